"""``dakoku sim --receiver``: bad input gets one clear line and exit status; a second run is the
same terminal booting again (its sequence numbers go on)."""

from __future__ import annotations

import io
import re
import ssl
import time

import pytest
from dakoku.cli import main

from simulator.cloud.service import RunningReceiver
from simulator.cloud.store import SqlStore
from simulator.remoteday import (
    SetupError,
    parse_receiver_url,
    parse_terminal_added,
    receiver_day,
)

SECRET = bytes.fromhex("00112233445566778899aabbccddeeff")


@pytest.fixture
def receiver(tmp_path):
    """A receiver on the wall clock (as `dakoku cloud serve` is) with two carded employees."""
    store = SqlStore.open(str(tmp_path / "r.db"))
    store.add_tenant("ACME01")
    store.add_terminal("ACME01", "T0001", SECRET)
    store.add_employee("ACME01", "E1", "山田 太郎", cards=["012e4cd2a3b40001"])
    store.add_employee("ACME01", "E2", "Emily Clark", cards=["012e4cd2a3b40002"], lang="en")
    with RunningReceiver(store) as running:
        yield running, store
    store.close()


def sim(capsys, *argv):
    status = main(["sim", *argv])
    out, err = capsys.readouterr()
    return status, out, err


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--receiver", "ftp://x"], "give http://HOST:PORT or https://HOST:PORT"),
        (["--receiver", "http://h:99999"], "not a number from 1 to 65535"),
        (["--receiver", "http://h:1/v1"], "only scheme, host and port"),
        (["--receiver", "http://h:1"], "give --tenant, --terminal, --secret, or --terminal-file"),
        (
            ["--receiver", "http://h:1", "--tenant", "A", "--terminal", "T", "--secret", "zz"],
            "--secret: the terminal's secret in hex",
        ),
        (
            ["--receiver", "http://h:1", "--terminal-file", "/nonexistent"],
            "cannot read /nonexistent",
        ),
        (["--tenant", "A"], "--tenant needs --receiver URL"),
        (["--receiver", "http://h:1", "--people", "0"], "--people must be at least 1"),
    ],
)
def test_bad_input_is_one_clear_line(capsys, argv, message):
    status, _out, err = sim(capsys, *argv)
    assert status in (1, 2) and message in err, err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_the_terminal_file_is_what_terminal_add_prints(tmp_path, capsys):
    db = str(tmp_path / "a.db")
    assert main(["cloud", "--db", db, "tenant", "add", "ACME01"]) == 0
    assert main(["cloud", "--db", db, "terminal", "add", "ACME01", "T0009"]) == 0
    printed = capsys.readouterr().out
    tenant, terminal, secret = parse_terminal_added(printed)
    store = SqlStore.open(db)
    try:
        assert (tenant, terminal) == ("ACME01", "T0009")
        assert store.terminal("ACME01", "T0009")["secret"] == secret
    finally:
        store.close()
    with pytest.raises(SetupError, match="not the output of"):
        parse_terminal_added("tenant ACME01 added\n")
    assert parse_receiver_url("https://example.test") == ("https", "example.test", 443)


def test_a_wrong_secret_is_refused_and_said(receiver, tmp_path):
    running, _store = receiver
    with pytest.raises(SetupError, match=r"refuses terminal T0001 of ACME01: .*bad signature; is"):
        receiver_day(
            running.url,
            "ACME01",
            "T0001",
            b"x" * 16,
            connect_s=10,
            flash_dir=str(tmp_path / "f"),
            printer=lambda _line: None,
        )


def test_an_unreachable_receiver_is_said(tmp_path):
    with pytest.raises(SetupError, match=r"no answer from .*cannot connect.*serve' running"):
        receiver_day(
            "http://127.0.0.1:9",
            "ACME01",
            "T0001",
            SECRET,
            connect_s=0.5,
            flash_dir=str(tmp_path / "f"),
            printer=lambda _line: None,
        )


def test_an_empty_roster_is_said(receiver, tmp_path):
    running, store = receiver
    store.add_tenant("EMPTY1")
    store.add_terminal("EMPTY1", "T0001", SECRET)
    with pytest.raises(SetupError, match="no employee with a card: import"):
        receiver_day(
            running.url,
            "EMPTY1",
            "T0001",
            SECRET,
            connect_s=10,
            flash_dir=str(tmp_path / "f"),
            printer=lambda _line: None,
        )


def test_a_run_stopped_with_punches_unsent_hands_them_to_the_next_run(receiver, tmp_path):
    """Ctrl-C during the network cut leaves offline punches on the terminal's flash; the next
    run is the same terminal booting again: it sends them, its numbers go on, none twice."""
    running, store = receiver
    flash = str(tmp_path / "flash")
    said = []

    def ctrl_c_at_network_up(line):
        said.append(line)
        if "network up" in line:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        receiver_day(running.url, "ACME01", "T0001", SECRET, people=2, interval_s=0,
                     flash_dir=flash, printer=ctrl_c_at_network_up)  # fmt: skip
    stopped = re.search(r"stopped: (\d+) punches not acknowledged yet stay", said[-1])
    assert stopped and int(stopped.group(1)) > 0, said[-3:]
    left = int(stopped.group(1))
    held_before = len(store.held("ACME01", "T0001"))
    day = receiver_day(running.url, "ACME01", "T0001", SECRET, people=2, interval_s=0,
                       flash_dir=flash, printer=lambda _line: None)  # fmt: skip
    assert day.ok and day.rig.boot_id == 2
    assert day.first_seq == held_before + left + 1  # the numbers go on after the unsent ones
    held = sorted(store.held("ACME01", "T0001"))
    assert held == list(range(1, day.first_seq + day.recorded))
    _punches, conflicts = store.flagged("ACME01")
    assert conflicts == []  # a fresh journal would have sent numbers 1, 2, ... again
    # A factory-fresh flash for the same terminal ID is refused before it punches anything.
    with pytest.raises(SetupError, match=r"already holds punches up to #\d+ of terminal T0001"):
        receiver_day(running.url, "ACME01", "T0001", SECRET, flash_dir=str(tmp_path / "new"),
                     printer=lambda _line: None)  # fmt: skip
    assert sorted(store.held("ACME01", "T0001")) == held and store.flagged("ACME01")[1] == []


@pytest.fixture
def tls_receiver(tmp_path, certificate):
    """The receiver over HTTPS with a self-signed certificate for 127.0.0.1."""
    key, cert = certificate()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(cert), str(key))
    store = SqlStore.open(str(tmp_path / "tls.db"))
    store.add_tenant("ACME01")
    store.add_terminal("ACME01", "T0001", SECRET)
    store.add_employee("ACME01", "E1", "山田 太郎", cards=["012e4cd2a3b40001"])
    with RunningReceiver(store, ssl_context=context) as running:
        yield running, store, str(cert)
    store.close()


def test_https_with_the_receivers_certificate_and_not_without(tls_receiver, tmp_path):
    running, store, cert = tls_receiver
    assert running.url.startswith("https://127.0.0.1:")
    with pytest.raises(SetupError, match="CERTIFICATE_VERIFY_FAILED"):
        receiver_day(running.url, "ACME01", "T0001", SECRET, connect_s=1,
                     flash_dir=str(tmp_path / "a"), printer=lambda _line: None)  # fmt: skip
    day = receiver_day(running.url, "ACME01", "T0001", SECRET, people=1, interval_s=0,
                       cafile=cert, flash_dir=str(tmp_path / "b"),
                       printer=lambda _line: None)  # fmt: skip
    assert day.ok and sorted(store.held("ACME01", "T0001")) == list(range(1, day.recorded + 1))


def test_an_unknown_tenant_and_a_receiver_in_maintenance_are_said(receiver, tmp_path):
    running, store = receiver
    with pytest.raises(SetupError, match=r"refuses .*\[res=5\].*dakoku cloud tenant list"):
        receiver_day(running.url, "NOPE01", "T0001", SECRET, connect_s=10,
                     flash_dir=str(tmp_path / "a"), printer=lambda _line: None)  # fmt: skip
    store.start_emergency(int(time.time()), 5, "upgrade")
    with pytest.raises(SetupError, match=r"is in maintenance until \d\d:\d\d: run this again"):
        receiver_day(running.url, "ACME01", "T0001", SECRET, connect_s=10,
                     flash_dir=str(tmp_path / "b"), printer=lambda _line: None)  # fmt: skip


def test_the_terminal_file_can_come_on_standard_input(monkeypatch, capsys):
    monkeypatch.setattr("sys.stdin", io.StringIO("tenant ACME01 added\n"))
    status, _out, err = sim(capsys, "--receiver", "http://127.0.0.1:9", "--terminal-file", "-")
    assert status == 1 and "not the output of 'dakoku cloud terminal add" in err
