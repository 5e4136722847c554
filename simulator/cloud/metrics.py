"""The receiver's counters, written in the Prometheus text format (version 0.0.4)."""

from __future__ import annotations

import threading
import time
from collections import deque

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
RATE_WINDOW_S = 10.0


class Metrics:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests: dict[tuple[str, int], int] = {}  # (route, status) -> count
        self.rejects: dict[int, int] = {}  # protocol error code -> count
        self.punches = 0  # stored for the first time
        self.duplicates = 0  # answered from what was already held
        self.flagged: dict[int, int] = {}  # result code (not 0) -> count, first-time only
        self.connections = 0
        self.open_connections = 0
        self._buckets = [0] * (len(LATENCY_BUCKETS) + 1)
        self._latency_sum = 0.0
        self._latency_count = 0
        self._recent: deque[tuple[float, int]] = deque()  # (monotonic time, punches)

    def request(self, route: str, status: int, seconds: float) -> None:
        with self._lock:
            key = (route, status)
            self.requests[key] = self.requests.get(key, 0) + 1
            i = 0
            while i < len(LATENCY_BUCKETS) and seconds > LATENCY_BUCKETS[i]:
                i += 1
            self._buckets[i] += 1
            self._latency_sum += seconds
            self._latency_count += 1

    def reject(self, code: int) -> None:
        with self._lock:
            self.rejects[code] = self.rejects.get(code, 0) + 1

    def stored(self, outcome: list) -> None:
        """What the store did with one batch: ``[(seq, code, duplicate)]`` (committed)."""
        fresh = 0
        with self._lock:
            for _seq, code, duplicate in outcome:
                if duplicate:
                    self.duplicates += 1
                    continue
                fresh += 1
                if code:
                    self.flagged[code] = self.flagged.get(code, 0) + 1
            self.punches += fresh
            now = time.monotonic()
            self._recent.append((now, fresh))
            while self._recent and now - self._recent[0][0] > RATE_WINDOW_S:
                self._recent.popleft()

    def ingest_rate(self) -> float:
        with self._lock:
            now = time.monotonic()
            total = sum(n for t, n in self._recent if now - t <= RATE_WINDOW_S)
        return total / RATE_WINDOW_S

    def text(self, extra: dict[str, float] | None = None) -> str:
        out = []

        def family(name: str, kind: str, help_text: str) -> None:
            out.append(f"# HELP {name} {help_text}")
            out.append(f"# TYPE {name} {kind}")

        rate = self.ingest_rate()
        with self._lock:
            family("dakoku_requests_total", "counter", "Requests answered, by route and status.")
            for (route, status), n in sorted(self.requests.items()):
                out.append('dakoku_requests_total{route="%s",status="%d"} %d' % (route, status, n))
            family("dakoku_rejects_total", "counter", "Requests refused, by protocol code.")
            for code, n in sorted(self.rejects.items()):
                out.append('dakoku_rejects_total{code="%d"} %d' % (code, n))
            family("dakoku_punches_ingested_total", "counter", "Punches stored for the first time.")
            out.append("dakoku_punches_ingested_total %d" % self.punches)
            family("dakoku_punches_duplicate_total", "counter", "Punches already held, resent.")
            out.append("dakoku_punches_duplicate_total %d" % self.duplicates)
            family("dakoku_punches_flagged_total", "counter", "Punches stored with a flag code.")
            for code, n in sorted(self.flagged.items()):
                out.append('dakoku_punches_flagged_total{code="%d"} %d' % (code, n))
            family(
                "dakoku_ingest_punches_per_second",
                "gauge",
                "Punches stored per second over the last %d s." % RATE_WINDOW_S,
            )
            out.append(f"dakoku_ingest_punches_per_second {rate:.1f}")
            family("dakoku_connections_total", "counter", "Connections accepted.")
            out.append("dakoku_connections_total %d" % self.connections)
            family("dakoku_open_connections", "gauge", "Connections open now.")
            out.append("dakoku_open_connections %d" % self.open_connections)
            family(
                "dakoku_request_seconds", "histogram", "Time from a whole request to its answer."
            )
            cumulative = 0
            for bound, n in zip(LATENCY_BUCKETS, self._buckets, strict=False):
                cumulative += n
                out.append('dakoku_request_seconds_bucket{le="%g"} %d' % (bound, cumulative))
            cumulative += self._buckets[-1]
            out.append('dakoku_request_seconds_bucket{le="+Inf"} %d' % cumulative)
            out.append(f"dakoku_request_seconds_sum {self._latency_sum:.6f}")
            out.append("dakoku_request_seconds_count %d" % self._latency_count)
        for name, value in sorted((extra or {}).items()):
            family(name, "gauge", name.replace("_", " ") + ".")
            out.append(f"{name} {value:g}")
        return "\n".join(out) + "\n"
