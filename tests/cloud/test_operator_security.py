"""The receiver run as an operator would, against a careless admin and a hostile terminal
(issue 16, items 11-15 and 20): database passwords masked, TLS misuse refused in one line,
administration tokens scoped to a tenant, private database files and sealed terminal secrets,
terminal text escaped wherever it is printed, and the smaller refusals."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
import socket
import ssl
import stat
import subprocess
import sys
import time

import pytest
from cloud_support import EPOCH, SECRET, TENANT, TERMINAL, punch, request, send
from dakoku import cloud
from dakoku.cli import main

from protocol.server import Server
from simulator.cloud.service import RunningReceiver, configure_logging, log
from simulator.cloud.store import RegistryError, SqlStore

PASSWORD = "Sup3r@S3cret"


def run(db, capsys, *argv):
    status = main(["cloud", "--db", db, *argv])
    out, err = capsys.readouterr()
    return status, out, err


def one_line_refusal(status, err):
    return status == 1 and err.startswith("dakoku cloud: ") and err.count("\n") == 1


@pytest.fixture
def json_log():
    """The receiver's JSON logging on a string, put back as it was after the test."""
    loggers = [log, logging.getLogger("asyncio")]
    saved = [(lg, lg.handlers[:], lg.level, lg.propagate) for lg in loggers]
    stream = io.StringIO()
    configure_logging("info", stream)
    yield stream
    for lg, handlers, level, propagate in saved:
        lg.handlers[:] = handlers
        lg.setLevel(level)
        lg.propagate = propagate


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---------------------------------------------------------------- 11: passwords masked


def test_the_database_password_is_masked_in_every_message(capsys, pg_cluster):
    closed = _free_port()
    urls = [
        "postgresql://dakoku:Sup3r%%40S3cret@127.0.0.1:%d/x" % closed,  # URL, percent-encoded
        "host=127.0.0.1 port=%d user=dakoku password='%s' dbname=x" % (closed, PASSWORD),
        # A real server that answers: the database does not exist.
        "postgresql://postgres:%s@127.0.0.1:%d/no_such_db"
        % (PASSWORD.replace("@", "%40"), pg_cluster.port),
    ]
    for url in urls:
        status, _, err = run(url, capsys, "tenant", "list")
        assert one_line_refusal(status, err), err
        assert "cannot open database" in err and "***" in err
        assert "S3cret" not in err, err


def test_the_database_password_is_masked_in_log_lines(json_log):
    stream = json_log
    log.warning(
        "health check failed",
        extra={"fields": {"error": "OperationalError('postgresql://u:%s@db/x')" % PASSWORD}},
    )
    log.warning("connect password=%s host=db" % PASSWORD)
    text = stream.getvalue()
    assert len(text.splitlines()) == 2 and "S3cret" not in text
    assert "postgresql://u:***@db/x" in text and "password=***" in text


# ---------------------------------------------------------------- 12: TLS misuse


def test_tls_key_without_a_certificate_is_refused_not_served_in_clear(tmp_path, certificate):
    """It served plain HTTP before (the admin token in clear): a process that must exit."""
    key, _cert = certificate("a")
    db = str(tmp_path / "r.db")
    done = subprocess.run(
        [sys.executable, "-m", "dakoku.cli", "cloud", "--db", db, "--create", "serve",
         "--port", str(_free_port()), "--tls-key", key],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 1
    assert (
        done.stderr == "dakoku cloud: --tls-key needs --tls-cert (refusing to serve plain HTTP)\n"
    )


def test_a_missing_or_bad_certificate_is_one_line(tmp_path, capsys, certificate):
    key_a, cert_a = certificate("a")
    key_b, _cert_b = certificate("b")
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n")
    db = str(tmp_path / "r.db")
    cases = [
        (["--tls-cert", str(tmp_path / "nope.pem"), "--tls-key", key_a], "no such file"),
        (["--tls-cert", cert_a, "--tls-key", str(tmp_path / "nope.pem")], "no such file"),
        (["--tls-cert", str(garbage), "--tls-key", key_a], "unusable"),
        (["--tls-cert", cert_a, "--tls-key", key_b], "is not the key of certificate"),
        (["--tls-cert", cert_a], "no --tls-key: the key must be in it"),
    ]
    for extra, message in cases:
        status, _, err = run(db, capsys, "--create", "serve", "--port", "0", *extra)
        assert one_line_refusal(status, err) and message in err, (extra, err)
    assert not os.path.exists(db)  # refused before anything was opened


def test_serve_over_tls_with_the_admin_token_from_a_file(tmp_path, capsys, certificate):
    key, cert = certificate("a")
    db = str(tmp_path / "r.db")
    assert run(db, capsys, "tenant", "add", TENANT)[0] == 0
    token_file = tmp_path / "token"
    token_file.write_text("op-secret-token\n")
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "dakoku.cli", "cloud", "--db", db, "serve", "--port", str(port),
         "--tls-cert", cert, "--tls-key", key, "--admin-token-file", str(token_file)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        context = ssl.create_default_context(cafile=cert)
        target = "/admin/v1/tenants/%s/terminals" % TENANT
        raw = _connect_when_listening(proc, port)
        with context.wrap_socket(raw, server_hostname="127.0.0.1") as sock:
            sock.sendall(
                b"GET %s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer op-secret-token\r\n"
                b"Connection: close\r\n\r\n" % target.encode()
            )
            data = b""
            while chunk := sock.recv(65536):
                data += chunk
        assert data.startswith(b"HTTP/1.1 200"), data[:200]
    finally:
        proc.terminate()
        proc.wait(30)
    empty = tmp_path / "empty"
    empty.write_text("\n")
    for path, message in [(empty, "is empty"), (tmp_path / "none", "cannot read admin token")]:
        args = cloud._parser().parse_args(["serve", "--admin-token-file", str(path)])
        with pytest.raises(RegistryError, match=message):
            cloud._admin_token(args)


def _connect_when_listening(proc, port):
    deadline = time.monotonic() + 30
    while True:
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        try:
            return socket.create_connection(("127.0.0.1", port), 5)
        except OSError:
            assert time.monotonic() < deadline, "the receiver did not start"
            time.sleep(0.05)


# ---------------------------------------------------------------- 13: scoped admin tokens


@pytest.fixture
def admin_rx(store, clock):
    store.add_tenant("OTHER1", "Other")
    store.add_terminal("OTHER1", TERMINAL, SECRET)
    with RunningReceiver(store, clock=clock, admin_token="op-token") as running:
        yield running.receiver.address, store


def _get(address, path, token=None):
    auth = b"Authorization: Bearer %s\r\n" % token.encode() if token else b""
    return send(address, b"GET %s HTTP/1.1\r\nHost: x\r\n%s\r\n" % (path.encode(), auth), "GET")


@pytest.mark.parametrize("what", ["punches.csv", "flagged", "terminals"])
def test_admin_tokens_are_scoped_to_their_tenant_on_every_route(admin_rx, what):
    address, store = admin_rx
    acme = store.issue_admin_token(TENANT)
    other = store.issue_admin_token("OTHER1")
    mine, theirs = "/admin/v1/tenants/%s/%s" % (TENANT, what), "/admin/v1/tenants/OTHER1/" + what
    assert _get(address, mine, acme).status == 200
    refused = _get(address, theirs, acme)
    assert (refused.status, refused.json()["code"]) == (403, 5)
    assert _get(address, theirs, other).status == 200
    assert _get(address, mine, other).status == 403
    assert _get(address, mine, "op-token").status == 200  # the operator reads every tenant
    assert _get(address, theirs, "op-token").status == 200
    assert _get(address, mine, acme + "x").status == 401
    assert _get(address, mine).status == 401
    unknown = _get(address, "/admin/v1/tenants/NOPE01/" + what, "op-token")
    assert unknown.status == 404 and "no tenant NOPE01" in unknown.json()["message"]
    # A tenant token on an unknown tenant learns nothing about it: refused as elsewhere.
    assert _get(address, "/admin/v1/tenants/NOPE01/" + what, acme).status == 403
    assert store.revoke_admin_tokens(TENANT) == 1
    assert _get(address, mine, acme).status == 401
    with store.db.transaction() as tx:  # only digests are kept
        kept = [r[0] for r in tx.rows("SELECT digest FROM admin_tokens")]
    assert kept and acme not in kept and other not in kept


def test_tenant_tokens_alone_turn_http_administration_on(sqlite_store, clock, tmp_path, capsys):
    with RunningReceiver(sqlite_store, clock=clock) as running:
        path = "/admin/v1/tenants/%s/flagged" % TENANT
        assert _get(running.receiver.address, path, "anything").status == 404  # off
        token = sqlite_store.issue_admin_token(TENANT)
        assert _get(running.receiver.address, path, token).status == 200
    db = str(tmp_path / "cli.db")
    run(db, capsys, "tenant", "add", TENANT)
    status, out, _ = run(db, capsys, "tenant", "token", TENANT)
    issued = out.splitlines()[-1]
    assert status == 0 and issued.startswith("dkt_")
    check = SqlStore.open(db)
    try:
        assert check.admin_token_tenant(issued) == TENANT
    finally:
        check.close()
    assert run(db, capsys, "tenant", "revoke-tokens", TENANT)[1] == (
        "1 administration token(s) of %s revoked\n" % TENANT
    )


# ---------------------------------------------------------------- 14: files and secrets


def _mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def test_database_files_are_private_from_creation(tmp_path):
    old = os.umask(0o022)  # the usual umask: files 0644 unless made otherwise
    try:
        db = str(tmp_path / "new.db")
        store = SqlStore.open(db)
        store.add_tenant(TENANT)
        store.add_terminal(TENANT, TERMINAL, SECRET)
        for name in (db, db + "-wal", db + "-shm", db + ".key"):
            assert _mode(name) == 0o600, name
        store.close()
        # A database made world-readable by hand (or by an older release) is narrowed.
        os.chmod(db, 0o644)
        SqlStore.open(db).close()
        assert _mode(db) == 0o600
    finally:
        os.umask(old)


def test_terminal_secrets_are_sealed_at_rest(engine_url, tmp_path, clock):
    key_file = str(tmp_path / "secrets.key")
    store = SqlStore.open(engine_url, clock=clock, key_file=key_file)
    try:
        assert _mode(key_file) == 0o600
        store.add_tenant(TENANT)
        store.add_terminal(TENANT, TERMINAL, SECRET)
        store.add_terminal(TENANT, "T0002", bytes(range(16)))
        with store.db.transaction() as tx:
            at_rest = {r[0]: bytes(r[1]) for r in tx.rows("SELECT id, secret FROM terminals")}
        assert SECRET not in at_rest[TERMINAL] and at_rest[TERMINAL][:1] == b"\x01"
        assert store.terminal(TENANT, TERMINAL)["secret"] == SECRET
        answer = Server(store).handle(
            request("POST", "/v1/punches", {"punches": [punch(1)]}), EPOCH
        )
        assert answer.startswith(b"HTTP/1.1 200")  # signatures check against the sealed secret
        # A sealed secret moved onto another terminal's row does not open there.
        with store.db.transaction() as tx:
            tx.execute("UPDATE terminals SET secret = ? WHERE id = 'T0002'", (at_rest[TERMINAL],))
        with pytest.raises(RegistryError, match="does not open"):
            store.terminal(TENANT, "T0002")
    finally:
        store.close()
    with pytest.raises(RegistryError, match="encrypted: give their key file"):
        SqlStore.open(engine_url, key_file=None)
    with pytest.raises(RegistryError, match="does not exist"):
        SqlStore.open(engine_url, key_file=str(tmp_path / "lost.key"))
    other = tmp_path / "other.key"
    other.write_text(os.urandom(32).hex() + "\n")
    other.chmod(0o600)
    with pytest.raises(RegistryError, match="is not the key"):
        SqlStore.open(engine_url, key_file=str(other))
    other.chmod(0o644)
    with pytest.raises(RegistryError, match="readable by others"):
        SqlStore.open(engine_url, key_file=str(other))


def test_plaintext_secrets_of_an_older_database_are_sealed_when_a_key_is_given(
    engine_url, tmp_path
):
    plain = SqlStore.open(engine_url, key_file=None)
    plain.add_tenant(TENANT)
    plain.add_terminal(TENANT, TERMINAL, SECRET)
    plain.close()
    key_file = str(tmp_path / "k")
    sealed = SqlStore.open(engine_url, key_file=key_file)
    try:
        assert sealed.terminal(TENANT, TERMINAL)["secret"] == SECRET
        with sealed.db.transaction() as tx:
            raw = bytes(tx.one("SELECT secret FROM terminals")[0])
        assert raw != SECRET and raw[:1] == b"\x01"
        if sealed.db.engine == "sqlite":  # no plaintext left in the file or its WAL
            for name in (engine_url, engine_url + "-wal"):
                if os.path.exists(name):
                    with open(name, "rb") as fh:
                        assert SECRET not in fh.read(), name
    finally:
        sealed.close()
    again = SqlStore.open(engine_url, key_file=key_file)  # sealed once, not twice
    try:
        assert again.terminal(TENANT, TERMINAL)["secret"] == SECRET
    finally:
        again.close()


# ---------------------------------------------------------------- 15: terminal text escaped


FORGED = "ok\x1b[2J\r\nc9 reboot           2026-12-01T09:00 ok forged\u2028\x9b"


def test_terminal_supplied_text_is_escaped_in_cli_output(tmp_path, capsys):
    db = str(tmp_path / "r.db")
    run(db, capsys, "tenant", "add", TENANT)
    run(db, capsys, "terminal", "add", TENANT, TERMINAL, "--label", "door\x1b]0;pwned\x07")
    run(db, capsys, "terminal", "command", TENANT, TERMINAL, "upload_now")
    run(db, capsys, "terminal", "command", TENANT, TERMINAL, "reboot")
    store = SqlStore.open(db)
    try:
        sent = store.commands(TENANT, TERMINAL, [], EPOCH)
        store.commands(TENANT, TERMINAL, [{"id": sent[0]["id"], "status": "ok",
                                           "detail": FORGED}], EPOCH)  # fmt: skip
    finally:
        store.close()
    out = run(db, capsys, "terminal", "results", TENANT, TERMINAL)[1]
    assert len(out.splitlines()) == 2  # one line per command, none forged
    assert not any(ch in out for ch in "\x1b\r\x9b\u2028\x07")
    assert "ok\\x1b[2J\\x0d\\x0ac9 reboot" in out
    listing = run(db, capsys, "terminal", "list", TENANT)[1]
    assert "door\\x1b]0;pwned\\x07" in listing and "\x1b" not in listing


def test_terminal_supplied_text_is_escaped_in_log_lines(json_log):
    stream = json_log
    log.info("request", extra={"fields": {"terminal": "T\x9b2J\u2028forged", "tenant": "A\\x9b"}})
    line = stream.getvalue()
    assert line.count("\n") == 1 and "\x9b" not in line and "\u2028" not in line
    entry = json.loads(line)
    assert entry["terminal"] == "T\\x9b2J\\u2028forged"
    assert entry["tenant"] == "A\\\\x9b"  # a backslash in the input cannot forge an escape


# ---------------------------------------------------------------- 20: the smaller items


def test_a_maintenance_window_already_over_is_refused(tmp_path, capsys):
    db = str(tmp_path / "r.db")
    status, _, err = run(db, capsys, "--create", "maintenance", "schedule",
                         "2020-01-02T22:00", "2020-01-02T23:00")  # fmt: skip
    assert one_line_refusal(status, err) and "is already over" in err
    assert run(db, capsys, "maintenance", "list")[1] == ""


def test_a_mistyped_database_is_refused_not_created(tmp_path, capsys):
    typo = str(tmp_path / "typo.db")
    for argv in (["employee", "list", TENANT], ["maintenance", "list"], ["serve", "--port", "0"]):
        status, _, err = run(typo, capsys, *argv)
        assert one_line_refusal(status, err) and "no database at %s" % typo in err
        assert "--create" in err and not os.path.exists(typo)
    assert run(typo, capsys, "--create", "maintenance", "list")[0] == 0
    assert os.path.exists(typo)


def test_asyncio_errors_are_json_lines(json_log):
    stream = json_log

    async def main_task():
        loop = asyncio.get_running_loop()
        loop.call_soon(lambda: 1 / 0)  # a callback that raises: asyncio logs it
        await asyncio.sleep(0.01)

    asyncio.run(main_task())
    lines = stream.getvalue().splitlines()
    assert lines, "asyncio's error went elsewhere"
    entries = [json.loads(line) for line in lines]
    assert entries[0]["logger"] == "asyncio" and "ZeroDivisionError" in entries[0]["error"]


def test_metrics_answers_get_only(sqlite_store, clock):
    with RunningReceiver(sqlite_store, clock=clock) as running:
        for method in ("POST", "DELETE", "PUT", "HEAD"):
            answer = send(running.receiver.address,
                          b"%s /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"
                          % method.encode(), method)  # fmt: skip
            assert answer.status == 405 and answer.header("allow") == "GET"
        get = send(running.receiver.address, b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", "GET")
        assert get.status == 200
