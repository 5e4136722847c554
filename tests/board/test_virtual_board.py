"""The virtual board as a user runs it (issue 20): ``dakoku board run`` in its own process, the
real firmware on the real MicroPython (and on CPython), a card placed through its console on
the pty, the punch at a receiver over real TCP; killed and started again, nothing is lost."""

from __future__ import annotations

import json
import random
import re
import socket
import time

import pytest
from dakoku.cli import main
from vboard_support import (
    CARDS,
    BoardProcess,
    make_store,
    receiver,
    receiver_cards,
    receiver_seqs,
    tap,
    wait_ready,
    wait_until,
)

pytestmark = pytest.mark.timeout(300)


@pytest.fixture
def store(tmp_path):
    s = make_store(tmp_path / "r.db", terminals=("T0001", "T0002", "T0003"))
    yield s
    s.close()


@pytest.fixture
def rx(store):
    with receiver(store) as running:
        yield running


def _ok_screen(shown):
    return shown[0] == "style: ok"


@pytest.mark.parametrize("runtime", ["micropython", "cpython"])
def test_a_card_through_the_console_reaches_the_receiver_and_a_kill_loses_nothing(
    tmp_path, store, rx, runtime
):
    board = BoardProcess(tmp_path / "b", rx.url, runtime=runtime)
    try:
        state = json.loads((tmp_path / "b" / "board.json").read_text())
        assert state["console"] == board.console_path and state["runtime"] == runtime
        with board.console() as con:
            status = con.ok("status")
            assert status[0] in ("state: ready", "state: clock_invalid"), status
            wait_until(lambda: "roster: version=0" not in " ".join(con.ok("status")))
            shown = tap(con, CARDS[0])
            assert _ok_screen(shown), shown
            assert any("社員 1" in line for line in shown), shown
            wait_until(lambda: receiver_cards(store) == [CARDS[0]])
            wait_ready(con)
            # one more, then the process is killed as soon as it is answered OK
            shown = tap(con, CARDS[1])
            assert _ok_screen(shown), shown
        board.kill()
        board = BoardProcess(tmp_path / "b", rx.url, runtime=runtime)
        assert "boot 2" in board.lines[-1] or any("boot 2" in x for x in board.lines)
        wait_until(lambda: receiver_cards(store) == [CARDS[0], CARDS[1]])
        with board.console() as con:
            journal = con.ok("journal")
            assert [line.split()[0] for line in journal] == ["seq=1", "seq=2"], journal
            assert all("sent=yes" in line for line in journal), journal
    finally:
        board.stop()
    assert receiver_seqs(store) == [1, 2]


def test_killed_at_random_moments_of_a_stream_of_taps_no_ok_is_lost_or_doubled(tmp_path, store, rx):
    """SIGKILL at random points while cards are placed and punches appended and uploaded
    (CPython guest, the same firmware: four kills). Every punch answered OK reaches the
    receiver once."""
    rng = random.Random(20)
    answered = []
    cards = iter(CARDS)
    for _round in range(4):
        board = BoardProcess(tmp_path / "b", rx.url, runtime="cpython")
        con = board.console()
        kill_after = rng.uniform(0.0, 3.0)
        t0 = time.monotonic()
        try:
            while time.monotonic() - t0 < kill_after:
                card = next(cards)
                con.ok(f"card {card} 300")
                try:
                    shown = con.wait_screen(lambda s: s[0] != "style: ready", 5)
                except Exception:
                    break
                if _ok_screen(shown):
                    answered.append(card)
                con.wait_screen(lambda s: s[0] == "style: ready", 10)
        finally:
            con.close()
            board.kill()
    board = BoardProcess(tmp_path / "b", rx.url, runtime="cpython")
    try:
        wait_until(lambda: set(answered) <= set(receiver_cards(store)), 60)
        held = receiver_cards(store)
        assert len(held) == len(set(held)), held  # none twice
        seqs = receiver_seqs(store)
        assert seqs == list(range(1, len(seqs) + 1)), seqs
    finally:
        board.stop()
    assert answered, "no tap was answered OK before the kills"


def test_bad_console_input_leaves_the_board_punching(tmp_path, store, rx):
    board = BoardProcess(tmp_path / "b", rx.url, runtime="micropython",
                         extra=("--set", "service_pin=4321"))  # fmt: skip
    try:
        with board.console() as con:
            assert con.command(b"x" * 300)[1] == "error: line too long (max 200)"
            assert con.command(b"\xff\xfe\x00\x1b[2J")[1] == "error: not text"
            assert con.command("frobnicate")[1].startswith("error: unknown command 'frobnicate'")
            assert con.command("config set feedback_ms 500")[1].startswith("error:")
            assert con.command("login 0000")[1] == "error: wrong PIN (2 tries left before a lock)"
            assert con.command("config set feedback_ms 500")[1].startswith("error:")
            assert con.command("login 4321")[1].startswith("ok: logged in")
            assert con.command("config set feedback_ms 500")[1] == "ok: feedback_ms=500"
            assert "feedback_ms=500" in con.ok("config get feedback_ms")
            con.write(b"stat")  # a command cut off: the console is closed mid-line
        time.sleep(0.3)  # a person (or a tool) opening it again
        with board.console() as con:
            lines, final = con.command("status")
            assert final == "ok" and lines[0].startswith("state: "), (lines, final)
            shown = tap(con, CARDS[2])
            assert _ok_screen(shown), shown
        wait_until(lambda: receiver_cards(store) == [CARDS[2]])
    finally:
        board.stop()


def test_a_receiver_that_does_not_answer_then_does(tmp_path, store):
    """Started against a port where nobody listens, the board punches offline; when a
    receiver comes up on that port, the punch is sent."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    board = BoardProcess(tmp_path / "b", url, runtime="micropython")
    try:
        assert any("does not answer" in line for line in board.lines), board.lines
        with board.console() as con:
            shown = tap(con, CARDS[3])
            assert shown[0] in ("style: ok", "style: offline"), shown
            journal = con.ok("journal")
            assert len(journal) == 1 and "sent=no" in journal[0], journal
            with receiver(store, port=port):
                wait_until(lambda: receiver_cards(store) == [CARDS[3]], 90)
                wait_until(lambda: "sent=yes" in con.ok("journal")[0], 30)
    finally:
        board.stop()


def test_power_cut_reboot_and_network_stimuli(tmp_path, store, rx):
    board = BoardProcess(tmp_path / "b", rx.url, profile="bt", runtime="micropython")
    try:
        with board.console() as con:
            assert con.ok("net down") == []
            shown = tap(con, CARDS[4])
            assert _ok_screen(shown) or shown[0] == "style: offline", shown
            assert con.command("power cut")[1] == "ok: power cut"
        board.wait_line(re.compile(r"ready \(boot 2"), 60)
        with board.console() as con:
            journal = con.ok("journal")
            assert len(journal) == 1 and CARDS[4] in journal[0], journal
            assert con.ok("net up") == []
            wait_until(lambda: receiver_cards(store) == [CARDS[4]], 60)
            assert con.command("reboot")[1].startswith("error:")  # no login: refused
    finally:
        board.stop()


def test_bt_board_a_finger_and_a_key_through_the_console(tmp_path, store, rx):
    """The finger stimuli reach the simulated R503 behind the real driver, a key the real key
    matrix: a finger enrolled on page 3 punches employee E3; the "in" key makes the next card
    tap a clock-in."""
    board = BoardProcess(tmp_path / "b", rx.url, profile="bt", runtime="micropython")
    try:
        with board.console() as con:
            wait_until(lambda: "roster: version=0" not in " ".join(con.ok("status")))
            assert con.ok("enrol 3 e3-right-index") == []
            assert con.ok("finger e3-right-index good 1500") == []
            shown = con.wait_screen(lambda s: s[0] != "style: ready", 20)
            assert shown[0] == "style: ok" and "line: 社員 3" in shown, shown
            wait_ready(con)
            assert con.command("key sideways")[1].startswith("error:")
            assert con.ok("key in") == []
            time.sleep(0.3)
            shown = tap(con, CARDS[7])
            assert shown[0] == "style: ok", shown
            journal = con.ok("journal")
            assert "method=finger" in journal[0] and "who=E3" in journal[0], journal
            assert "kind=clock_in" in journal[1] and CARDS[7] in journal[1], journal
        wait_until(lambda: len(receiver_seqs(store)) == 2)
    finally:
        board.stop()


def test_two_boards_at_once_each_with_its_identity_flash_and_pty(tmp_path, store, rx, capsys):
    import subprocess
    import sys

    cmd = [sys.executable, "-m", "dakoku.cli", "board", "run", "--profile", "pit",
           "--receiver", rx.url, "--tenant", "ACME01", "--terminal", "T0002",
           "--secret", "00112233445566778899aabbccddeeff", "--count", "2",
           "--runtime", "cpython", "--dir", str(tmp_path / "fleet")]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        states = wait_until(lambda: _fleet(tmp_path / "fleet"), 60)
        assert sorted(states) == ["T0002", "T0003"]
        assert len({s["console"] for s in states.values()}) == 2
        from simulator.vboard.client import Console

        for i, (terminal, state) in enumerate(sorted(states.items())):
            with Console(state["console"]) as con:
                wait_until(lambda c=con: c.ok("status")[0] == "state: ready", 60)
                tap(con, CARDS[10 + i])
            wait_until(lambda t=terminal, k=CARDS[10 + i]: receiver_cards(store, t) == [k])
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=30)
    assert out.count("stopped") == 2, out


def _fleet(base):
    states = {}
    for f in base.glob("*/board.json"):
        s = json.loads(f.read_text())
        states[s["terminal"]] = s
    return states if len(states) == 2 else None


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--profile", "zz", "--receiver", "http://127.0.0.1:1", "--tenant", "A",
          "--terminal", "T", "--secret", "00" * 16], "--profile: 'zz' is not a board profile"),
        (["--profile", "pit", "--receiver", "ftp://x"], "give http://HOST:PORT"),
        (["--profile", "pit", "--receiver", "http://127.0.0.1:1"], "give --tenant"),
        (["--profile", "pit", "--receiver", "http://127.0.0.1:1", "--tenant", "A",
          "--terminal", "T", "--secret", "00" * 16, "--count", "0"], "--count must be at least 1"),
        (["--profile", "pit", "--receiver", "http://127.0.0.1:1", "--tenant", "A",
          "--terminal", "T", "--secret", "00" * 16, "--heap", "lots"], "--heap: 'lots'"),
        (["--profile", "pit", "--receiver", "http://127.0.0.1:1", "--tenant", "A",
          "--terminal", "T", "--secret", "00" * 16, "--set", "pin"], "--set 'pin': give KEY=VALUE"),
        (["--profile", "pit", "--receiver", "http://127.0.0.1:1", "--tenant", "A",
          "--terminal", "T", "--secret", "00" * 16, "--set", "feedback_ms=soon", "--dir", "{tmp}"],
         "--set feedback_ms: must be a whole number"),
    ],
)  # fmt: skip
def test_bad_command_lines_get_one_clear_line(capsys, tmp_path, argv, message):
    status = main(["board", "run", *[a.replace("{tmp}", str(tmp_path)) for a in argv]])
    err = capsys.readouterr().err
    assert status == 2 and message in err, err
    assert err.count("\n") == 1


def test_power_cut_at_each_flash_write_of_a_tap_loses_no_ok_and_doubles_nothing(
    tmp_path, store, rx
):
    """``power cut after N`` cuts the power just before the board's Nth flash write from now;
    N = 1..4, and taps of new cards follow until the cut comes (a tap writes the journal's
    record and its delivery mark, and sometimes an event). After each cut the board boots
    again; every punch answered OK reaches the receiver once, and nothing else does."""
    from simulator.vboard.client import ConsoleError

    board = BoardProcess(tmp_path / "b", rx.url, runtime="cpython")
    answered, tapped = [], []
    cards = iter(CARDS)
    try:
        con = board.console()
        wait_until(lambda: "roster: version=0" not in " ".join(con.ok("status")))
        for n in range(1, 5):
            wait_ready(con)
            assert con.command(f"power cut after {n}")[1].startswith("ok: power cut armed")
            cut = False
            while not cut:
                card = next(cards)
                tapped.append(card)
                con.ok(f"card {card} 300")
                deadline = time.monotonic() + 10
                while time.monotonic() < deadline:
                    try:
                        shown = con.command("screen", 0.5)[0]
                    except ConsoleError:
                        cut = True  # no answer: the power is gone, the board boots
                        break
                    if shown and shown[0] == "style: ok" and card not in answered:
                        answered.append(card)
                    if shown and shown[0] == "style: ready" and card in answered:
                        break
                cut = cut or any(f"ready (boot {n + 1}," in x for x in board.lines)
            board.wait_line(re.compile(rf"ready \(boot {n + 1},"), 60)
            con.close()
            con = board.console()
        con.close()
        wait_until(lambda: set(answered) <= set(receiver_cards(store)), 60)
        held = receiver_cards(store)
        assert len(held) == len(set(held)), held
        assert set(held) <= set(tapped), held
        seqs = receiver_seqs(store)
        assert seqs == list(range(1, len(seqs) + 1)), seqs
    finally:
        board.stop()
    assert answered, "no tap was answered OK"
    assert len(tapped) > len(answered), "no cut fell inside a tap, before its OK"


def test_https_receiver_trusted_with_cafile_and_refused_without(tmp_path, store, certificate):
    """TLS by the host's ssl on the board's socket: with the receiver's CA (--cafile) the punch
    is delivered; without it the handshake fails, the board says why and punches offline."""
    import ssl

    key, cert = certificate()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    with receiver(store, ssl_context=context) as tls:
        assert tls.url.startswith("https://")
        untrusted = BoardProcess(tmp_path / "u", tls.url, terminal="T0002", runtime="micropython")
        try:
            with untrusted.console() as con:
                shown = tap(con, CARDS[5])
                assert shown[0] in ("style: ok", "style: offline"), shown
                network = wait_until(lambda: [x for x in con.ok("status")
                                              if x.startswith("network: TLS")], 30)  # fmt: skip
                assert "CERTIFICATE_VERIFY_FAILED" in network[0], network
                assert "sent=no" in con.ok("journal")[0]
        finally:
            untrusted.stop()
        board = BoardProcess(tmp_path / "b", tls.url, runtime="micropython",
                             extra=("--cafile", cert))  # fmt: skip
        try:
            with board.console() as con:
                tap(con, CARDS[6])
            wait_until(lambda: receiver_cards(store) == [CARDS[6]], 30)
        finally:
            board.stop()
    assert receiver_cards(store, "T0002") == []
