"""PRT-AUTH-1: what the secret is. The hex the receiver's CLI prints is decoded, and the bytes are
the HMAC key; the worked example in docs/PROTOCOL.md is recomputed with CPython's ``hmac`` (an
implementation written from the spec alone). CPython only (the CLI and SQLite)."""

import hmac
import re
import sys
from hashlib import sha256
from pathlib import Path

from dakoku.cli import main

from protocol import sign
from protocol.client import Client, Identity, Send
from protocol.server import Server
from simulator.cloud.store import SqlStore

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "PROTOCOL.md").read_text(encoding="utf-8")
sys.path.insert(0, str(ROOT / "tests" / "terminal"))
import protocol_support as support  # noqa: E402


def _example():
    text = DOC.split("A worked example", 1)[1].split("- **PRT-AUTH-3**", 1)[0]
    text = " ".join(text.split())  # the example wraps across lines
    return {
        "secret": re.search(r"the secret printed as `([0-9a-f]+)`", text).group(1),
        "target": re.search(r"a request `POST (\S+)`", text).group(1),
        "tenant": re.search(r"from tenant `([^`]+)`", text).group(1),
        "terminal": re.search(r"terminal `([^`]+)`", text).group(1),
        "time": re.search(r"`Dakoku-Time: (\d+)`", text).group(1),
        "nonce": re.search(r"`Dakoku-Nonce: ([^`]+)`", text).group(1),
        "body": re.search(r"and the body `([^`]+)`", text).group(1).encode(),
        "body_sha": re.search(r"body SHA-256 `([0-9a-f]{64})`", text).group(1),
        "signature": re.search(r"Dakoku-Signature: (hmac-sha256=[0-9a-f]{64})", text).group(1),
    }


def test_the_worked_example_in_the_spec_holds_for_an_outside_hmac():
    """PRT-AUTH-1, PRT-AUTH-2: the spec's example, recomputed from its own words."""
    ex = _example()
    key = bytes.fromhex(ex["secret"])
    assert len(key) == 16 and sha256(ex["body"]).hexdigest() == ex["body_sha"]
    fields = ("target", "tenant", "terminal", "time", "nonce", "body_sha")
    canonical = "\n".join(["DAKOKU1", "POST"] + [ex[f] for f in fields]).encode()
    assert "hmac-sha256=" + hmac.new(key, canonical, sha256).hexdigest() == ex["signature"]
    ours = sign.request_string("POST", ex["target"], ex["tenant"], ex["terminal"],
                               int(ex["time"]), ex["nonce"], ex["body"])  # fmt: skip
    assert ours == canonical and sign.sign(key, ours) == ex["signature"]
    wrong = hmac.new(ex["secret"].encode(), canonical, sha256).hexdigest()
    assert wrong.startswith("61120b82") and "`61120b82…`" in DOC  # what the spec warns of


def _hello(identity, store):
    client = Client(identity, boot_id=1)
    client.start(0, support.EPOCH)
    action = client.next_action(0, support.Source())
    assert isinstance(action, Send)
    answer = Server(store).handle(action.data, support.EPOCH)
    out = client.receive(0, answer)
    return out if out is not None else client.closed(0)


def test_the_hex_the_cli_prints_is_the_secret_a_terminal_is_given(tmp_path, capsys):
    """PRT-AUTH-1: register a terminal with the CLI, give the terminal the printed text: the
    receiver accepts its hello. The hex text's own bytes as the key are refused (code 2)."""
    db = str(tmp_path / "r.db")
    assert main(["cloud", "--db", db, "tenant", "add", support.TENANT]) == 0
    assert main(["cloud", "--db", db, "terminal", "add", support.TENANT, support.TERMINAL]) == 0
    printed = capsys.readouterr().out.strip().splitlines()[-1]
    store = SqlStore.open(db)
    try:
        ok = _hello(Identity(support.TENANT, support.TERMINAL, printed), store)
        assert ok.ok and ok.status == 200 and ok.mode == "online"
        text_as_key = printed.encode()  # 32 bytes: long enough, and wrong
        bad = _hello(Identity(support.TENANT, support.TERMINAL, text_as_key), store)
        assert not bad.ok and bad.status == 401 and bad.code == 2
    finally:
        store.close()
