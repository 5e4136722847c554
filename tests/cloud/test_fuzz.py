"""Fuzz the receiver's HTTP API from ``protocol/openapi.json`` with schemathesis.

Every generated request is signed with a registered terminal's secret, the receiver's current
time and a fresh nonce, so the generated bodies and queries get past authentication and reach
validation and storage: that is where malformed input could do harm. Checks: never a 5xx, the
status code, content type and body documented for the operation, and invalid data refused.
Bounded: a fixed number of examples per operation, no deadline games.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest
import requests
import schemathesis
from cloud_support import CARD, SECRET, TENANT, TERMINAL, Clock
from hypothesis import HealthCheck, settings
from schemathesis.core.parameters import ParameterLocation

from protocol import sign
from simulator.cloud.service import RunningReceiver
from simulator.cloud.store import SqlStore

SPEC = Path(__file__).resolve().parents[2] / "protocol" / "openapi.json"
schema = schemathesis.openapi.from_path(str(SPEC))
# An oversized body is refused with 413 (code 11, documented): a rejection like 400.
schema.config.checks.negative_data_rejection.expected_statuses += ["413"]
_nonces = itertools.count(1)
NOW = 1795000000


@pytest.fixture(scope="module")
def receiver(tmp_path_factory):
    store = SqlStore.open(str(tmp_path_factory.mktemp("fuzz") / "fuzz.db"))
    store.add_tenant(TENANT)
    store.add_terminal(TENANT, TERMINAL, SECRET)
    store.add_employee(TENANT, "E1", "fuzz", cards=[CARD])
    with RunningReceiver(store, clock=Clock(NOW)) as running:
        running.store = store
        yield running
    store.close()


def _headers_negative(case) -> bool:
    meta = case.meta
    return meta is not None and meta.is_negative_at(ParameterLocation.HEADER)


def _signed(case, base_url: str) -> requests.PreparedRequest:
    kwargs = case.as_transport_kwargs(base_url=base_url)
    headers = {k: str(v) for k, v in (kwargs.get("headers") or {}).items()}
    body = kwargs.get("json", None)
    data = kwargs.get("data", None)
    if body is not None or "json" in kwargs:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    prepared = requests.Request(
        kwargs["method"], kwargs["url"], params=kwargs.get("params"), headers=headers, data=data
    ).prepare()
    raw = prepared.body or b""
    if isinstance(raw, str):
        raw = raw.encode()
    if _headers_negative(case):
        return prepared  # the headers themselves are the fuzzed part: send them as generated
    nonce = f"fz{next(_nonces):014d}"
    text = sign.request_string(
        prepared.method, prepared.path_url, TENANT, TERMINAL, NOW, nonce, raw
    )
    prepared.headers.update(
        {
            "Dakoku-Tenant": TENANT,
            "Dakoku-Terminal": TERMINAL,
            "Dakoku-Time": str(NOW),
            "Dakoku-Nonce": nonce,
            "Dakoku-Signature": sign.sign(SECRET, text),
        }
    )
    return prepared


@schema.parametrize()
@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_receiver_api(case, receiver):
    prepared = _signed(case, receiver.url)
    with requests.Session() as session:
        response = session.send(prepared, timeout=10)
    assert response.status_code < 500, response.text
    case.validate_response(
        response,
        excluded_checks=[schemathesis.checks.positive_data_acceptance],
        transport_kwargs={"headers": dict(prepared.headers)},
    )


def test_the_fuzzing_got_past_authentication(receiver):
    """Runs after the fuzzing (same module receiver): signed cases reached validation and storage,
    so the fuzzing above was not all refused at the door."""
    requests_by = receiver.receiver.metrics.requests
    ok = sum(n for (route, status), n in requests_by.items() if status == 200)
    malformed = receiver.receiver.metrics.rejects.get(1, 0)
    assert ok > 10 and malformed > 10, (requests_by, receiver.receiver.metrics.rejects)
