"""`dakoku bench protocol` runs and reports every figure it promises (values are not judged)."""

from dakoku.bench_protocol import N, bench_protocol

KEYS = {
    "bytes_per_punch",
    "encode_us_per_punch_cpython",
    "fuel_per_punch_encode_micropython",
    "fuel_per_punch_server_micropython",
}


def test_bench_protocol_reports_its_figures():
    figures = bench_protocol()
    assert KEYS <= set(figures)
    assert figures["batch_punches"] == N
    for key in KEYS:
        assert figures[key] > 0, key
    assert figures["bytes_per_punch"] > figures["body_bytes_per_punch"]
