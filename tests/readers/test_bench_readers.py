"""The pieces of `dakoku bench readers` run and measure what they say (no timing asserted)."""

from __future__ import annotations

from dakoku import bench_readers


def test_wire_model_counts_every_byte_of_a_cycle():
    figures = bench_readers._wire("rcs620s")
    # poll 16 + ACK 6 + answer 29, RF off 11 + ACK 6 + answer 9 bytes
    assert figures["poll_cycle_bytes_rcs620s"] == 16 + 6 + 29 + 11 + 6 + 9
    assert figures["poll_wire_ms_rcs620s"] < figures["poll_cycle_ms_rcs620s"]


def test_a_poll_allocates_nothing_on_micropython():
    for kind, name in (("pn532", "pn532"), ("pn532-i2c", "pn532_i2c")):
        figures = bench_readers._alloc_and_fuel(kind)
        assert figures[f"poll_alloc_bytes_micropython_{name}"] == 0, kind
        assert figures[f"poll_alloc_bytes_micropython_{name}_empty"] == 0, kind
        assert figures[f"poll_fuel_micropython_{name}"] > 0, kind
