"""protocol/openapi.json: a valid OpenAPI 3.1 document whose examples, and whose codec output,
match its schemas (PRT-VER-1); CPython only (jsonschema)."""

import hmac
import json
import os
import sys
from hashlib import sha256
from pathlib import Path

import jsonschema
import pytest
from openapi_spec_validator import validate

from protocol import messages, sign
from protocol.http import ResponseParser

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "terminal"))
import protocol_support as support  # noqa: E402

DOC = json.loads((ROOT / "protocol" / "openapi.json").read_text(encoding="utf-8"))


def validator(name):
    schema = {"$ref": "#/components/schemas/" + name, "components": DOC["components"]}
    return jsonschema.Draft202012Validator(schema)


def check(name, instance):
    errors = sorted(validator(name).iter_errors(instance), key=str)
    assert not errors, f"{name}: " + "; ".join(e.message for e in errors[:3])


def test_document_is_valid_openapi_3_1():
    assert DOC["openapi"] == "3.1.0"
    validate(DOC)


def examples():
    for path, item in DOC["paths"].items():
        for method, operation in item.items():
            body = operation.get("requestBody", {}).get("content", {}).get("application/json")
            if body:
                yield f"{method} {path} request", body["schema"]["$ref"], body["example"]
            for status, response in operation["responses"].items():
                content = response.get("content", {}).get("application/json")
                if content and "example" in content:
                    name = f"{method} {path} {status}"
                    yield name, content["schema"]["$ref"], content["example"]


EXAMPLES = list(examples())


@pytest.mark.parametrize("name,ref,example", EXAMPLES, ids=[e[0] for e in EXAMPLES])
def test_every_example_matches_its_schema(name, ref, example):
    check(ref.rsplit("/", 1)[1], example)


def test_examples_cover_every_operation_and_status():
    assert len(EXAMPLES) >= 5 * 9


def test_invalid_instances_are_refused_by_the_schema():
    bad = [
        ("Punch", {"seq": 1, "t": 5, "tz": 540, "up": 4, "boot": 1, "k": 1, "m": 1, "cred": "01"}),
        ("Punch", {"seq": 1, "k": 1, "m": 1, "cred": "01"}),
        ("Punch", {"seq": 1, "t": 5, "tz": 7, "k": 1, "m": 1, "cred": "01"}),
        ("Punch", {"seq": 1, "t": 5, "tz": 0, "k": 1, "m": 1, "cred": "0A"}),
        ("Clock", {"synced": True, "boot": 1, "up": 3}),
        ("Command", {"id": "x", "op": "resend", "from": 3}),
    ]
    for name, instance in bad:
        assert list(validator(name).iter_errors(instance)), (name, instance)


def test_examples_are_accepted_by_the_codec():
    ops = {e[0]: e[2] for e in EXAMPLES}
    batch = ops["post /v1/punches request"]
    punches = messages.decode_batch(json.dumps(batch).encode(), 100)
    assert [p.seq for p in punches] == [1041, 1042, 1044]
    assert messages.encode_batch(punches) == json.dumps(batch, separators=(",", ":")).encode()
    messages.decode_hello(json.dumps(ops["post /v1/hello request"]).encode())
    messages.decode_hello_reply(json.dumps(ops["post /v1/hello 200"]).encode())
    messages.decode_heartbeat(json.dumps(ops["post /v1/heartbeat request"]).encode())
    messages.decode_heartbeat_reply(json.dumps(ops["post /v1/heartbeat 200"]).encode())
    messages.decode_roster_reply(json.dumps(ops["get /v1/roster 200"]).encode())
    messages.decode_log(json.dumps(ops["post /v1/log request"]).encode(), 100)
    reply = json.dumps(ops["post /v1/punches 200"]).encode()
    assert messages.decode_batch_reply(reply, (1041, 1042, 1044))["results"][1042] == 7
    for status in ("400", "401", "403", "429", "500", "503"):
        assert messages.decode_error(json.dumps(ops["post /v1/punches " + status]).encode())


SCHEMA_OF_REQUEST = {
    "/v1/hello": "Hello",
    "/v1/punches": "PunchBatch",
    "/v1/heartbeat": "Heartbeat",
    "/v1/log": "LogUpload",
}
SCHEMA_OF_REPLY = {
    "/v1/hello": "HelloReply",
    "/v1/punches": "BatchReply",
    "/v1/heartbeat": "HeartbeatReply",
    "/v1/log": "LogReply",
    "/v1/roster": "RosterReply",
}


def test_codec_output_matches_the_schema():
    """A whole conversation (every message kind, errors too) checked message by message."""
    w = support.Wire()
    w.store.windows.append({"start": support.EPOCH + 86400, "end": support.EPOCH + 90000})
    w.store.config[(support.TENANT, support.TERMINAL)] = {"version": 2, "values": {"a": 1}}
    w.source.events = [{"n": 1, "code": 1, "up": 3, "boot": 7, "text": "boot"}]
    w.source.add(3)
    w.source.add(1, card=support.UNKNOWN_CARD)
    w.source.add(1, synced=False, time=50)
    seen = []

    def record(request, answer):
        head, body = request.split(b"\r\n\r\n", 1)
        target = head.split(b" ")[1].decode().split("?")[0]
        reply = ResponseParser().feed(answer)
        seen.append((target, body, reply))
        return answer

    w.fault = record
    w.settle()
    w.store.pending[(support.TENANT, support.TERMINAL)] = [
        {"id": "c1", "op": "resend", "from": 1, "to": 2},
        {"id": "c2", "op": "upload_log", "since": 0},
    ]
    w.now += 300_000
    w.settle()
    w.now += 300_000
    w.settle()
    w.store.fail = RuntimeError("x")
    w.source.add(1)
    w.settle()
    kinds = set()
    for target, body, reply in seen:
        if target in SCHEMA_OF_REQUEST:
            check(SCHEMA_OF_REQUEST[target], json.loads(body))
        if reply.status == 200:
            check(SCHEMA_OF_REPLY[target], json.loads(reply.body))
        else:
            check("Error", json.loads(reply.body))
        kinds.add((target, reply.status))
    assert kinds >= {
        ("/v1/hello", 200),
        ("/v1/punches", 200),
        ("/v1/heartbeat", 200),
        ("/v1/log", 200),
        ("/v1/roster", 200),
        ("/v1/punches", 500),
    }


def test_hmac_matches_cpython_hmac():
    for n in range(200):
        key = os.urandom(n % 150)
        message = os.urandom((n * 37) % 500)
        expected = hmac.new(key, message, sha256).digest()
        assert sign.hmac_sha256(key, message) == expected
