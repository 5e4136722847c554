"""The virtual board's host side in-process (simulator/vboard/host.py): the pty's hang-up
marks, and two boards run one after the other in one process on CPython."""

from __future__ import annotations

import os
import time

from vboard_support import SECRET

from simulator.vboard.host import BoardWorld, PtyConsole, run_once


def _read_until(console, want, timeout_s=5.0):
    got = []
    deadline = time.monotonic() + timeout_s
    while len(got) < want and time.monotonic() < deadline:
        chunk = console.read()
        if chunk != b"":
            got.append(chunk)
        time.sleep(0.01)
    return got


def test_a_half_line_then_a_hang_up_then_the_next_clients_line_stay_apart():
    console = PtyConsole()
    try:
        first = os.open(console.path, os.O_RDWR | os.O_NOCTTY)
        os.write(first, b"stat")
        os.close(first)
        time.sleep(0.2)
        second = os.open(console.path, os.O_RDWR | os.O_NOCTTY)
        os.write(second, b"us\n")
        got = _read_until(console, 3)
        os.close(second)
        assert got == [b"stat", None, b"us\n"], got
    finally:
        console.close()


def test_a_line_written_just_before_a_close_is_still_heard():
    console = PtyConsole()
    try:
        client = os.open(console.path, os.O_RDWR | os.O_NOCTTY)
        os.write(client, b"status\r\n")
        os.close(client)  # printf 'status\r\n' > PTY
        assert _read_until(console, 2) == [b"status\r\n", None]
    finally:
        console.close()


def test_two_boards_one_after_the_other_in_one_process_each_get_their_own_calls(tmp_path):
    """On CPython the guest module stays imported between runs: each run must reach its own
    world (a board's host calls went to the first world before the fix)."""
    worlds = []
    for name in ("T0001", "T0002"):
        world = BoardWorld("pit", tmp_path / name, "127.0.0.1", 9, ("ACME01", name, SECRET),
                           runtime="cpython", log=lambda _line: None)  # fmt: skip
        world._sleep_ms = lambda ms: False  # type: ignore[method-assign]
        try:
            assert run_once(world, turns=20) == 0
        finally:
            world.close()
        worlds.append(world)
    assert all(w.host_calls > 50 for w in worlds), [w.host_calls for w in worlds]
    assert (tmp_path / "T0002" / "journal.bin").exists()
