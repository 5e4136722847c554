"""The door day against a receiver you run (``dakoku sim --receiver URL``), in real time.

``make sim`` plays the door day of :mod:`simulator.door` under virtual time against a receiver
whose clock is the rig's. A receiver you started yourself (``dakoku cloud serve``) keeps the wall
clock: it refuses a request whose time is more than 300 s from its own (PRT-AUTH) and flags a
punch from the future. So here the terminal runs on the real clock, and the day is compressed
instead: the same events in the same order (arrivals, a double tap, an unregistered card, lunch
breaks, departures with a network cut in the middle), one every ``interval_s`` seconds, each
person waiting for the screen to return to "ready" as they would at a door. The terminal's
feedback time is cut to 0.3 s and its double-punch window to 1 s so that a 10-person day takes
about half a minute; a person's next tap waits until the window has passed, except the day's one
double tap, which comes at once and is answered "already recorded".

The terminal is the firmware core on simulated flash (:class:`simulator.door.Rig`); it learns
its roster (cards, names) from the receiver, like a real one after its hello. Its flash images
and boot ID live in ``flash_dir`` (by default ``sim-output/terminals/TENANT-ID/``), so a second
run is the same terminal booting again: its sequence numbers go on where the last run stopped
(a fresh journal would send numbers the receiver already holds, which it keeps aside as
conflicting resends) and the punches it had not delivered are still there to send. Its requests go
over :class:`simulator.cloud.wire.HttpLink` (HTTP) or :class:`TlsLink` (HTTPS). The day ends
when every punch the terminal recorded has been acknowledged (the journal's unsent count is 0)
or ``settle_s`` has passed.

The door day's maintenance window is left out: the receiver's maintenance table is its
operator's (``dakoku cloud maintenance now``, tried during a run, shows the terminal riding it
out).
"""

from __future__ import annotations

import json
import os
import re
import ssl
import time
from collections.abc import Callable
from urllib.parse import urlsplit

from firmware import eventlog
from firmware.terminal import Card
from protocol.codes import BAD_SIGNATURE, TENANT_UNUSABLE, TERMINAL_UNUSABLE
from protocol.http import HttpError, ResponseParser
from simulator.cloud.wire import HttpLink
from simulator.door import Rig, describe, is_double, schedule

# The terminal's configuration here (its defaults: feedback_ms 2000, double_punch_s 60).
VALUES = {"feedback_ms": 300, "double_punch_s": 1}
IDLE_STATES = ("ready", "clock_invalid")


class SetupError(Exception):
    """The run cannot start: a bad URL or identity, an unreachable or refusing receiver, an
    empty roster. The message says what to do."""


def default_flash_dir(tenant: str, terminal_id: str) -> str:
    return os.path.join("sim-output", "terminals", f"{tenant}-{terminal_id}")


def next_boot_id(flash_dir: str) -> int:
    """The board's persisted boot counter (firmware/main.py: ``boot_id()``), advanced."""
    path = os.path.join(flash_dir, "boot-id")
    try:
        with open(path, encoding="ascii") as fh:
            boot = int(fh.read().strip() or 0) + 1
    except FileNotFoundError:
        boot = 1
    except ValueError:
        raise SetupError(f"{path}: not a number; delete {flash_dir} for a fresh terminal") from None
    boot = boot % 0x10000 or 1  # 16 bits in the nonce; 0 is no boot
    with open(path, "w", encoding="ascii") as fh:
        fh.write(f"{boot}\n")
    return boot


class TlsLink(HttpLink):
    """:class:`HttpLink` over TLS (a receiver started with ``--tls-cert``)."""

    def __init__(self, host: str, port: int, context: ssl.SSLContext, timeout_s: float = 15.0):
        super().__init__(host, port, timeout_s)
        self.context = context

    def _connect(self):
        return self.context.wrap_socket(super()._connect(), server_hostname=self.host)


def parse_receiver_url(url: str) -> tuple[str, str, int]:
    """``http://host:port`` or ``https://host:port`` -> (scheme, host, port)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise SetupError(f"--receiver {url!r}: give http://HOST:PORT or https://HOST:PORT")
    if parts.path not in ("", "/") or parts.query:
        raise SetupError(f"--receiver {url!r}: only scheme, host and port (no path)")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise SetupError(f"--receiver {url!r}: the port is not a number from 1 to 65535") from None
    return parts.scheme, parts.hostname, port


_ADDED = re.compile(r"^terminal (\S+) added to (\S+)$", re.M)
_HEX_LINE = re.compile(r"^([0-9a-fA-F]{32,128})$", re.M)


def parse_terminal_added(text: str) -> tuple[str, str, bytes]:
    """(tenant, terminal ID, secret) from what ``dakoku cloud terminal add`` printed."""
    added = _ADDED.search(text)
    secret = _HEX_LINE.search(text)
    if added is None or secret is None:
        raise SetupError(
            "not the output of 'dakoku cloud terminal add TENANT ID' (it prints "
            "'terminal ID added to TENANT' and the secret in hex on the line after 'secret')"
        )
    return added.group(2), added.group(1), bytes.fromhex(secret.group(1))


def parse_secret(text: str) -> bytes:
    try:
        secret = bytes.fromhex(text.strip())
    except ValueError:
        raise SetupError(
            "--secret: the terminal's secret in hex, as 'terminal add' printed it"
        ) from None
    if len(secret) < 16:
        raise SetupError(f"--secret: {len(secret)} bytes; a terminal secret has at least 16")
    return secret


class ReceiverDay:
    """Outcome of :func:`receiver_day`."""

    def __init__(
        self, rig: Rig, first_seq: int, taps: int, doubles: int, offline: int, lines: list[str]
    ):
        self.rig = rig
        self.first_seq = first_seq  # the first sequence number of this run
        self.taps = taps
        self.doubles = doubles  # taps answered "already recorded" (inside the double-punch window)
        self.offline = offline
        self.lines = lines
        self.recorded = rig.journal.next_seq - first_seq  # in this run
        self.unsent = rig.journal.unsent_count  # of this run and any before it
        self.ok = self.recorded > 0 and self.unsent == 0


def _day_events(people: int) -> list[tuple[int, str, bool]]:
    """The door day's events in order as (person index or -1, key or network change, whether
    it repeats that person's previous tap); the network cut moved to the middle of the
    departures (where it falls in the door day with 50 people)."""
    events, _ = schedule(people, 0)
    order = []
    last: dict[int, str] = {}
    for _when, who, what in events:
        if who >= 0:
            order.append((who, what, last.get(who) == what))
            last[who] = what
    outs = [i for i, (_who, what, _again) in enumerate(order) if what == "out"]
    order.insert(outs[-1] + 1, (-1, "network up", False))
    order.insert(outs[len(outs) // 2], (-1, "network down", False))
    return order


# What to look at when the receiver refuses the terminal at hello (protocol/codes.py).
_HINTS = {
    BAD_SIGNATURE: "is the secret the one 'dakoku cloud terminal add' printed for this "
    "terminal, with this database?",
    TENANT_UNUSABLE: "is the tenant in this receiver's database and enabled (dakoku cloud "
    "tenant list)?",
    TERMINAL_UNUSABLE: "is the terminal registered for this tenant and enabled (dakoku cloud "
    "terminal list TENANT)?",
}


def _hello_high(answer: bytes) -> int:
    """``high`` of a hello answer (PRT-HELLO-4), 0 if the answer is not a readable 200."""
    parser = ResponseParser("POST")
    try:
        msg = parser.feed(answer)
        if msg is None or msg.status != 200:
            return 0
        high = json.loads(bytes(msg.body)).get("high", 0)
    except (HttpError, ValueError, AttributeError):
        return 0
    return high if isinstance(high, int) else 0


def _why_not(url: str, tenant: str, terminal_id: str, mode: str, rig: Rig) -> str:
    text = ""
    for e in rig.log.events(0, 1000):
        if e["code"] == eventlog.NET_ERROR:
            text = e["text"]
    if mode == "maintenance":
        until = rig.terminal.maintenance_end
        when = "" if not until else " until " + rig.terminal.clock_text(until)
        return (
            f"the receiver at {url} is in maintenance{when}: run this again after it (or end "
            "it: dakoku cloud maintenance end)"
        )
    if mode == "refused":
        code = re.search(r"\[res=(\d+)\]", text)
        hint = _HINTS.get(int(code.group(1)), "") if code else ""
        return f"the receiver at {url} refuses terminal {terminal_id} of {tenant}: {text}" + (
            f"; {hint}" if hint else ""
        )
    return (
        f"no answer from the receiver at {url}: {text or 'none yet'}; is 'dakoku cloud serve' "
        "running there?"
    )


def receiver_day(
    url: str,
    tenant: str,
    terminal_id: str,
    secret: bytes,
    people: int | None = None,
    interval_s: float = 0.3,
    connect_s: float = 20.0,
    settle_s: float = 30.0,
    cafile: str | None = None,
    flash_dir: str | None = None,
    printer: Callable[[str], None] = print,
) -> ReceiverDay:
    """Run the compressed door day against the receiver at ``url``; SetupError if it cannot
    start."""
    scheme, host, port = parse_receiver_url(url)
    if scheme == "https":
        context = ssl.create_default_context(cafile=cafile)
        link: HttpLink = TlsLink(host, port, context)
    else:
        link = HttpLink(host, port)
    lines: list[str] = []
    flash_dir = flash_dir or default_flash_dir(tenant, terminal_id)
    try:
        os.makedirs(flash_dir, exist_ok=True)
        boot_id = next_boot_id(flash_dir)
    except OSError as e:
        raise SetupError(f"cannot use {flash_dir} for the terminal's flash: {e}") from None
    t0 = time.monotonic()
    high = [0]  # the highest sequence number the receiver holds of this terminal (hello)

    def exchange(data: bytes, _now: int) -> bytes:
        answer = link.exchange(data)
        if data.startswith(b"POST /v1/hello "):
            high[0] = _hello_high(answer)
        return answer

    rig = Rig(
        employees=0,
        values=VALUES,
        rtc=int(time.time()),
        journal_sectors=16,
        roster_sectors=64,
        boot_id=boot_id,
        flash_dir=flash_dir,
        service=exchange,
        identity=(tenant, terminal_id, secret),
    )

    def say(text: str) -> None:  # the time as the terminal shows it (JST by default)
        t = int(time.time()) + rig.terminal.clock.utc_offset_min * 60
        line = f"{t // 3600 % 24:02d}:{t // 60 % 60:02d}:{t % 60:02d}  {text}"
        lines.append(line)
        printer(line)

    def turn() -> None:
        rig.now = max(rig.now, int((time.monotonic() - t0) * 1000))
        rig.tick()
        rig.settle()

    def run(seconds: float, done: Callable[[], bool]) -> bool:
        end = time.monotonic() + seconds
        while True:
            turn()
            if done():
                return True
            if time.monotonic() >= end:
                return False
            time.sleep(0.02)

    client = rig.uplink.client

    def mode_changed(old: str, new: str) -> None:
        if old != "unknown":  # the first answer after boot is said by "terminal up"
            say(f"mode {old} -> {new} (unsent {rig.journal.unsent_count})")

    rig.on_mode = mode_changed

    def answered() -> bool:
        """Refused, in maintenance, or online with the receiver's roster applied."""
        if client.mode in ("refused", "maintenance"):
            return True
        return (
            client.mode == "online"
            and client.roster_version >= client.server_roster
            and not rig.roster.busy
        )

    try:
        say(f"terminal {terminal_id} of {tenant}, connecting to {url} (for up to {connect_s:g} s)")
        say(
            f"(boot {boot_id}; its flash, {rig.journal.next_seq - 1} punches on it, is kept in "
            f"{flash_dir})"
        )
        if not run(connect_s, answered) or client.mode != "online":
            raise SetupError(_why_not(url, tenant, terminal_id, client.mode, rig))
        if high[0] >= rig.journal.next_seq:
            raise SetupError(
                f"the receiver already holds punches up to #{high[0]} of terminal "
                f"{terminal_id}, but this terminal's flash ({flash_dir}) goes on from "
                f"#{rig.journal.next_seq}: its punches would be kept aside as conflicting "
                "resends. Use that terminal's flash (--flash-dir), or register a new terminal "
                f"(dakoku cloud terminal add {tenant} ID) for a fresh one"
            )
        cards = [bytes(c) for e in rig.roster.employees() for c in e.cards]
        if not cards:
            raise SetupError(
                f"the receiver's roster for {tenant} has no employee with a card: import "
                f"some (dakoku cloud employee import {tenant} staff.csv), then run this again"
            )
        if people is not None:
            cards = cards[:people]
        events = _day_events(len(cards))
        pace = max(interval_s + VALUES["feedback_ms"] / 1000, (VALUES["double_punch_s"] + 0.2)
                   / max(1, len(cards)))  # fmt: skip
        say(
            f"terminal up: {client.mode}, roster {rig.roster.count} people (version "
            f"{rig.roster.version}), {len(cards)} of them at the door today; the day takes "
            f"about {len(events) * pace + 5:.0f} s"
        )
        stranger = bytes.fromhex("01394e0000000000")
        while stranger in cards or rig.roster.lookup_card(stranger) is not None:
            stranger = stranger[:-1] + bytes([(stranger[-1] + 1) % 256])
        first_seq = rig.journal.next_seq
        taps = doubles = offline = strangers = 0
        last_tap: dict[int, int] = {}
        gap_ms = VALUES["double_punch_s"] * 1000 + 200
        for who, what, again in events:
            if who < 0:
                rig.network = what == "network up"
                say(f"{what} (unsent {rig.journal.unsent_count})")
                if rig.network:
                    rig.uplink.link(rig.now, True)  # the board's link is back (PRT-CLI-1)
                turn()
                continue
            run(10.0, lambda: rig.terminal.machine.state in IDLE_STATES)
            if not again:
                since = last_tap.get(who, -gap_ms)
                run(gap_ms / 1000, lambda since=since: rig.now - since >= gap_ms)
                run(interval_s, lambda: False)
            last_tap[who] = rig.now
            rig.key(what)
            rig.tap(card=Card(cards[who] if who < len(cards) else stranger))
            taps += 1
            strangers += who >= len(cards)
            screen = rig.last_screen()
            offline += screen.style == "offline"
            doubles += is_double(screen)
            say(f"{what:<11} {describe(screen.lines)}")
        say(f"every tap made; waiting up to {settle_s:g} s for the last uploads")
        run(settle_s, lambda: rig.journal.unsent_count == 0 and client.mode == "online")
        result = ReceiverDay(rig, first_seq, taps, doubles, offline, lines)
        say(
            f"taps {taps}, recorded {result.recorded} (offline {offline}), acknowledged by "
            f"the receiver {rig.uplink.delivered}, unsent {result.unsent}"
        )
        say(
            f"({taps} taps = {len(cards)} people x 4 punches; {strangers} of an unregistered "
            "card, recorded and"
        )
        say(
            f" flagged by the receiver; {doubles} double tap, answered 打刻済みです (Already "
            "recorded) and not recorded again)"
        )
        return result
    except KeyboardInterrupt:
        printer(
            f"stopped: {rig.journal.unsent_count} punches not acknowledged yet stay on the "
            f"terminal's flash ({flash_dir}) and go out at the next run"
        )
        raise
    finally:
        link.close()
        for flash in (rig.journal_flash, rig.roster_flash, rig.config_flash, rig.log_flash):
            flash.close()
