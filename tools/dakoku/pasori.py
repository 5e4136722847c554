"""A real Sony RC-S380 (PaSoRi) on the desktop, over pyusb: the same reader as the terminal's.

``open_pasori()`` finds the device by VID:PID (054c:06c1 RC-S380/S, 054c:06c3 RC-S380/P),
takes interface 0 and its bulk endpoints, and returns a ``hardware.reader.Reader`` running the
RC-S380 driver over ``UsbTransport`` (a zero-length packet follows a write that is a multiple
of the packet size; reads never wait long: the reader is paced by its caller). Every way it
can fail to start is a ``PasoriError`` whose message says what to do:

- no reader: none of the two products on any bus (and libusb missing is said as such);
- no permission: the udev rule to install (Linux), or run as administrator;
- busy: another program holds the interface (nfcpy, pcscd, a second dakoku), or the kernel's
  ``port100`` driver has it and cannot be detached without permission.

``dakoku reader pasori`` prints each tap; ``dakoku sim --reader pasori`` is not built: the
door day runs on virtual time, a real reader does not.
"""

from __future__ import annotations

import errno
import time
from collections.abc import Callable

from hardware import pn53x, rcs380
from hardware.link import Link
from hardware.reader import Reader

UDEV_RULE = (
    'SUBSYSTEM=="usb", ATTRS{idVendor}=="054c", ATTRS{idProduct}=="06c[13]", '
    'MODE="0664", GROUP="plugdev"'
)
UDEV_FILE = "/etc/udev/rules.d/60-dakoku-pasori.rules"


class PasoriError(Exception):
    """The RC-S380 cannot be used; ``str()`` says why and what to do."""


def permission_message(what: str) -> str:
    return (
        f"no permission to use the RC-S380 ({what}). On Linux install a udev rule and "
        f"re-plug the reader:\n  echo '{UDEV_RULE}' | sudo tee {UDEV_FILE}\n"
        "  sudo udevadm control --reload; and be in the plugdev group. "
        "On Windows use the WinUSB driver (Zadig) instead of Sony's."
    )


def busy_message(what: str) -> str:
    return (
        f"the RC-S380 is in use by another program ({what}): close nfcpy, pcscd or another "
        "dakoku, or unload the kernel's driver: sudo modprobe -r port100"
    )


def _explain(e: Exception, what: str) -> PasoriError:
    code = getattr(e, "errno", None)
    backend = getattr(e, "backend_error_code", None)
    if code == errno.EACCES or backend == -3:  # LIBUSB_ERROR_ACCESS
        return PasoriError(permission_message(what))
    if code == errno.EBUSY or backend == -6:  # LIBUSB_ERROR_BUSY
        return PasoriError(busy_message(what))
    if code in (errno.ENODEV, errno.ENOENT) or backend == -4:
        return PasoriError("the RC-S380 went away while opening it (unplugged?)")
    return PasoriError(f"the RC-S380 could not be opened ({what}): {e}")


def find_device(find: Callable | None = None):
    """The first RC-S380 pyusb sees, or a PasoriError."""
    import usb.core

    find = find or usb.core.find
    try:
        for product in rcs380.PRODUCTS:
            dev = find(idVendor=rcs380.VENDOR_SONY, idProduct=product)
            if dev is not None:
                return dev
    except usb.core.NoBackendError as e:
        raise PasoriError(
            "libusb is not installed, so no USB reader can be found "
            "(apt install libusb-1.0-0, or libusb-1.0.dll next to Python on Windows)"
        ) from e
    raise PasoriError(
        "no RC-S380 found (USB 054c:06c1 or 054c:06c3): is it plugged in? "
        "(lsusb should list 'Sony Corp. RC-S380')"
    )


class UsbTransport:
    """The driver's transport over a pyusb device's bulk endpoints."""

    def __init__(self, device, interface: int = 0, read_timeout_ms: int = 2):
        import usb.core

        self._usb = usb.core
        self.device = device
        try:
            if device.is_kernel_driver_active(interface):
                device.detach_kernel_driver(interface)
        except NotImplementedError:
            pass  # not on this platform
        except usb.core.USBError as e:
            raise _explain(e, "detaching the kernel driver") from e
        try:
            device.set_configuration()
            setting = device.get_active_configuration()[(interface, 0)]
        except usb.core.USBError as e:
            raise _explain(e, "configuring the device") from e
        ins = [ep for ep in setting if ep.bEndpointAddress & 0x80 and ep.bmAttributes & 3 == 2]
        outs = [ep for ep in setting if not ep.bEndpointAddress & 0x80 and ep.bmAttributes & 3 == 2]
        if not ins or not outs:
            raise PasoriError("the device has no bulk endpoints: is it really an RC-S380?")
        self.ep_in = ins[0].bEndpointAddress
        self.ep_out = outs[0].bEndpointAddress
        self.packet = outs[0].wMaxPacketSize or 64
        self.read_timeout_ms = read_timeout_ms
        self._rest = b""

    def send(self, frame) -> None:
        try:
            self.device.write(self.ep_out, bytes(frame), 100)
            if len(frame) % self.packet == 0:
                self.device.write(self.ep_out, b"", 100)  # a zero-length packet ends it
        except self._usb.USBError as e:
            raise OSError(getattr(e, "errno", None) or errno.EIO, str(e)) from e

    def readinto(self, buf, expect_ack) -> int:
        if not self._rest:
            try:
                self._rest = bytes(self.device.read(self.ep_in, 512, self.read_timeout_ms))
            except self._usb.USBTimeoutError:
                return 0
            except self._usb.USBError as e:
                raise OSError(getattr(e, "errno", None) or errno.EIO, str(e)) from e
        n = min(len(buf), len(self._rest))
        buf[:n] = self._rest[:n]
        self._rest = self._rest[n:]
        return n

    def flush(self, buf) -> None:
        self._rest = b""
        for _ in range(8):
            if not self.readinto(buf, False):
                return
            self._rest = b""


def open_pasori(find: Callable | None = None, system_code: int = 0xFFFF) -> Reader:
    """An RC-S380 reader, self-tested; a PasoriError says why not."""
    device = find_device(find)
    transport = UsbTransport(device)
    link = Link(transport, pn53x.Decoder(300, little_endian=True), rcs380.TFI_CHIP)
    reader = Reader(rcs380.RCS380(system_code), link)
    start = time.monotonic()

    def ticks() -> int:
        return int((time.monotonic() - start) * 1000)

    problem = reader.selftest(ticks, lambda ms: time.sleep(ms / 1000))
    if problem is not None:
        raise PasoriError(f"the RC-S380 did not answer its self-test: {problem}")
    return reader


def watch(
    reader: Reader,
    printer: Callable[[str], None] = print,
    seconds: float = 0,
    door: bool = False,
) -> int:
    """Poll every 20 ms (for ever, or ``seconds``) and print each tap; the taps seen. With
    ``door``, each event goes to a terminal on the desktop rig (simulator/door.py, the
    receiver in memory, the clock running in real time) and its screen is printed (a real
    card is not on the rig's roster: the terminal answers it as an unknown card)."""
    rig = None
    if door:
        from simulator.door import Rig

        rig = Rig(employees=3)
        rig.settle()
    start = time.monotonic()
    taps = 0
    while not seconds or time.monotonic() - start < seconds:
        now = int((time.monotonic() - start) * 1000)
        event = reader.poll(now)
        if rig is not None and now > rig.now:
            rig.now = now
            rig.tick()
            rig.settle()
        if isinstance(event, tuple):
            printer("reader " + " ".join(str(x) for x in event))
            if rig is not None:
                if event[0] == "fault":
                    rig._out(rig.terminal.reader_fault(rig.now, event[1]))
                else:
                    rig._out(rig.terminal.reader_ok(rig.now))
        elif event is not None:
            taps += 1
            what = "ok" if event.readable and event.stable and event.count == 1 else "refused"
            printer(
                f"tap IDm {event.idm.hex()} cards {event.count} stable {event.stable} "
                f"readable {event.readable}: {what}"
            )
            if rig is not None:
                rig._out(rig.terminal.card(rig.now, event))
                screen = rig.last_screen()
                if screen is not None:
                    printer("  screen: " + " | ".join(screen.lines))
        time.sleep(0.02)
    return taps
