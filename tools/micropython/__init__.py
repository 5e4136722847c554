"""CPython stand-ins for MicroPython's built-in ``micropython`` module.

Terminal code writes ``from micropython import const`` as on a device. On a device, and in the
WASI interpreter the tests use, the built-in module wins; on the desktop (tests on CPython, the
simulator) this package supplies the few names terminal code may use. It is never copied to a
device.
"""


def const(value):
    """Compile-time constant on MicroPython; the value itself on CPython."""
    return value


def native(func):
    """Emit native code on MicroPython; a no-op here."""
    return func


def viper(func):
    """Viper code emitter on MicroPython; a no-op here."""
    return func


def alloc_emergency_exception_buf(size):
    return None


def heap_lock():
    return 0


def heap_unlock():
    return 0


def opt_level(level=None):
    return 0
