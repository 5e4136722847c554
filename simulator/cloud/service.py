"""The reference receiver: the protocol's server role as an asynchronous HTTP/1.1 service.

The edge is thin on purpose. asyncio accepts connections and reads bytes; ``protocol.http``'s
sans-IO ``RequestParser`` frames each request (limits, chunked bodies, keep-alive with pipelined
bytes carried over); ``protocol.server.Server`` decides every answer; the store
(:class:`simulator.cloud.store.SqlStore`) commits before the answer is written. Store work runs on
worker threads (one for SQLite, its single writer; several for PostgreSQL), so the event loop keeps
reading other connections while a transaction commits.

Besides the protocol's ``/v1/…`` paths:

- ``GET /healthz``: 200 ``{"status": "ok", …}`` when a durable write to the database commits,
  else 503;
- ``GET /metrics``: Prometheus text (requests by route and status, rejects by code, punches
  ingested, duplicates, flagged by code, ingest rate, request latency histogram);
- ``GET /admin/v1/tenants/<code>/punches.csv``, ``…/flagged``, ``…/terminals``: read-only
  administration with ``Authorization: Bearer <token>``: the operator token (every tenant) or a
  tenant's own token (``dakoku cloud tenant token``; that tenant only, 403 elsewhere); off (404)
  while there is neither; closed with 503 during maintenance (MNT-02).

Logs are JSON lines (one per request at INFO: route, status, code, tenant, terminal, ms), and
so are asyncio's own errors; text from outside is escaped in them and database passwords are
masked.
Time is injected (``clock``: UTC seconds), so the simulator runs the service under virtual time.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import hmac
import json
import logging
import socket
import ssl as _ssl
import threading
import time
from collections.abc import Callable
from typing import Any

from protocol.codes import (
    BAD_SIGNATURE,
    MAINTENANCE,
    MALFORMED,
    METHOD_NOT_ALLOWED,
    NOT_FOUND,
    SERVER_ERROR,
    TENANT_UNUSABLE,
    TOO_LARGE,
)
from protocol.http import HttpError, Message, RequestParser, encode_response
from protocol.server import Answer, Server, Settings, _error
from simulator.cloud import csvio
from simulator.cloud.db import StorageLost, redact
from simulator.cloud.metrics import Metrics
from simulator.cloud.store import RegistryError, SqlStore
from simulator.cloud.textsafe import printable

log = logging.getLogger("dakoku.cloud")

READ_CHUNK = 65536
GROUP_MAX = 32  # protocol requests committed together on SQLite (one sync for all)
IDLE_TIMEOUT_S = 30.0  # a kept-alive connection with no new request is closed after this
REQUEST_TIMEOUT_S = 15.0  # a request must arrive whole within this (slow-loris guard)
MAX_CONNECTIONS = 10000  # at most; fewer if the file-descriptor limit is lower
LISTEN_BACKLOG = 4096  # the kernel's queue of connections not yet accepted (a fleet at once)
FD_RESERVE = 64  # descriptors kept for the database, the log, worker connections
HEALTH_HEADROOM = 16  # connections beyond the cap that may still ask /healthz or /metrics


def raise_fd_limit() -> tuple[int, int]:
    """Raise this process's soft limit of open files to its hard limit (a shell's soft 1,024
    is far below MAX_CONNECTIONS); returns (soft, hard) as they are now."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
    if soft != resource.RLIM_INFINITY and soft < want:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
            soft = want
        except (ValueError, OSError):
            pass
    return soft, hard


def accept_batch(soft_limit: int) -> int:
    """Connections asyncio accepts per loop turn: up to the kernel's queue (a fleet arriving
    at once is taken in one turn), an eighth of the descriptors when they are few."""
    return max(8, min(LISTEN_BACKLOG, (soft_limit - FD_RESERVE - HEALTH_HEADROOM) // 8))


def connection_cap(soft_limit: int) -> int:
    """Connections kept open at most with ``soft_limit`` descriptors: below it by what two loop
    turns may accept before idle ones are shed (a shed one is freed a turn later), the reserve
    and the health headroom — so accept() never runs out."""
    room = soft_limit - 2 * accept_batch(soft_limit) - FD_RESERVE - HEALTH_HEADROOM
    return max(8, min(MAX_CONNECTIONS, room))


class JsonFormatter(logging.Formatter):
    """One JSON object per line. String values are escaped (:func:`printable`: no control,
    C1 or line-separator characters a log viewer would act on) and passwords masked."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": round(record.created, 3),
            "level": record.levelname.lower(),
            "event": record.getMessage(),
        }
        if record.name != log.name:
            entry["logger"] = record.name  # asyncio's own messages
        fields = getattr(record, "fields", None)
        if fields:
            entry.update(fields)
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["error"] = record.exc_text
        for key, value in entry.items():
            if isinstance(value, str):
                entry[key] = printable(value)
        line = json.dumps(entry, ensure_ascii=False)
        if "://" in line or "assword" in line:
            line = redact(line)
        return line


def configure_logging(level: str = "info", stream: Any = None) -> None:
    """JSON lines for the receiver's log and for asyncio's (an error in the event loop, a
    callback that raised), on ``stream`` (standard error by default)."""
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    log.handlers[:] = [handler]
    log.setLevel(level.upper())
    log.propagate = False
    loop_log = logging.getLogger("asyncio")
    loop_log.handlers[:] = [handler]
    loop_log.setLevel(logging.WARNING)
    loop_log.propagate = False


class Receiver:
    def __init__(
        self,
        store: SqlStore,
        settings: Settings | None = None,
        clock: Callable[[], int] | None = None,
        admin_token: str | None = None,
        workers: int | None = None,
        ssl_context: _ssl.SSLContext | None = None,
    ) -> None:
        self.store = store
        self.settings = settings or Settings()
        self.server = Server(store, self.settings)
        self.clock = clock or (lambda: int(time.time()))
        self.admin_token = admin_token
        self.metrics = Metrics()
        store.metrics = self.metrics
        if workers is None:
            workers = 1 if store.db.engine == "sqlite" else 4
        self.executor = concurrent.futures.ThreadPoolExecutor(workers, "dakoku-store")
        self.ssl_context = ssl_context
        self.idle_timeout_s = IDLE_TIMEOUT_S
        self.request_timeout_s = REQUEST_TIMEOUT_S
        # SQLite: requests wait here and are handled in groups with one commit (group commit);
        # PostgreSQL: each request runs on its own worker and commits itself.
        self.group_commit = store.db.engine == "sqlite"
        self._waiting: list[tuple[Message, float | None, asyncio.Future]] = []
        self._draining = False
        self._drainer: asyncio.Task | None = None
        self.groups = 0  # group commits made (tests and metrics)
        self._lost_logged = False
        self._server: asyncio.base_events.Server | None = None
        self._open: set[asyncio.StreamWriter] = set()
        self._idle: dict[asyncio.StreamWriter, None] = {}  # waiting for a request, oldest first
        self.max_connections = MAX_CONNECTIONS  # set from the descriptor limit at start
        self.shed_connections = 0  # idle connections closed to make room
        self.refused_connections = 0  # closed at once: full of busy ones
        self.address: tuple[str, int] = ("", 0)

    # ------------------------------------------------------------------ lifecycle

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> tuple[str, int]:
        soft, hard = raise_fd_limit()
        self.max_connections = connection_cap(soft)
        # Our own listening socket: asyncio accepts accept_batch() per turn (its backlog
        # argument), the kernel queues LISTEN_BACKLOG (set again after asyncio's listen()).
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        listener = socket.create_server((host, port), family=family, backlog=LISTEN_BACKLOG)
        tls: dict[str, Any] = {}
        if self.ssl_context is not None:  # a handshake that stalls holds a descriptor
            tls = {"ssl": self.ssl_context, "ssl_handshake_timeout": 10.0}
        self._server = await asyncio.start_server(
            self._connection, sock=listener, limit=READ_CHUNK, backlog=accept_batch(soft), **tls
        )
        listener.listen(LISTEN_BACKLOG)
        self.address = listener.getsockname()[:2]
        log.info(
            "file descriptors",
            extra={"fields": {"soft": soft, "hard": hard, "connections": self.max_connections}},
        )
        log.info(
            "listening",
            extra={
                "fields": {
                    "host": self.address[0],
                    "port": self.address[1],
                    "tls": self.ssl_context is not None,
                    "db": self.store.db.engine,
                }
            },
        )
        return self.address

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            for writer in list(self._open):
                writer.close()
            await self._server.wait_closed()
        self.executor.shutdown(wait=True)

    # ------------------------------------------------------------------ connections

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        m = self.metrics
        m.connections += 1
        loop = asyncio.get_running_loop()
        if len(self._open) >= self.max_connections:
            self._shed_idle()
        if len(self._open) >= self.max_connections + HEALTH_HEADROOM:
            self.refused_connections += 1
            writer.transport.abort()
            return
        # Full of busy connections: this one may ask for health or metrics, nothing else.
        over = len(self._open) >= self.max_connections
        self._open.add(writer)
        m.open_connections = len(self._open)
        trailing = b""
        try:
            while True:
                parser = RequestParser(max_body=self.settings.body)
                msg = parser.feed(trailing) if trailing else None
                if not trailing:
                    self._idle[writer] = None  # waiting for a request: may be shed (oldest first)
                continued = False
                # One deadline for the whole request from its first byte (a client sending a
                # byte every few seconds does not restart it: slow-loris).
                deadline = loop.time() + self.request_timeout_s if trailing else None
                try:
                    while msg is None:
                        if not continued and _expects_continue(parser.message):
                            # RFC 9110 §10.1.1: the client (curl, for one) waits for this
                            # before sending the body.
                            continued = True
                            await self._write(writer, b"HTTP/1.1 100 Continue\r\n\r\n")
                        if deadline is None and parser.received:
                            deadline = loop.time() + self.request_timeout_s
                        if deadline is None:
                            timeout = self.idle_timeout_s
                        else:
                            timeout = deadline - loop.time()
                            if timeout <= 0:
                                raise TimeoutError
                        data = await asyncio.wait_for(reader.read(READ_CHUNK), timeout)
                        self._idle.pop(writer, None)
                        if not data:
                            if not parser.received:
                                return  # closed between requests: normal
                            msg = parser.eof()
                            break
                        msg = parser.feed(data)
                except HttpError as e:
                    started = time.perf_counter()
                    if getattr(e, "status", 400) == 413:
                        answer = _error(TOO_LARGE, str(e))
                    else:
                        answer = _error(MALFORMED, f"HTTP: {e}", "http")
                    answer.headers.append(("Connection", "close"))
                    await self._write(writer, self.server.encode(answer))
                    self._count("http", answer, started, None)
                    return
                except (TimeoutError, ConnectionError):
                    return
                trailing = parser.trailing
                started = time.perf_counter()
                keep = _keep_alive(msg) and not over
                if over and msg.target.split("?", 1)[0] not in ("/healthz", "/metrics"):
                    answer = Answer(503, {"code": SERVER_ERROR, "message": "too many connections"})
                    answer.headers.append(("Retry-After", "5"))
                    data_out, route = self.server.encode(answer), "busy"
                else:
                    data_out, answer, route = await self._dispatch(msg)
                if not keep:
                    data_out = _with_close(data_out)
                await self._write(writer, data_out)
                self._count(route, answer, started, msg)
                if not keep:
                    return
        except (ConnectionError, asyncio.CancelledError, _ssl.SSLError):
            return
        finally:
            self._open.discard(writer)
            self._idle.pop(writer, None)
            m.open_connections = len(self._open)
            try:
                writer.close()
            except Exception:
                pass

    def _shed_idle(self) -> None:
        """Close the connection idle the longest (waiting for a request), to make room."""
        if not self._idle:
            return
        victim = next(iter(self._idle))  # dicts keep insertion order: the oldest idle
        del self._idle[victim]
        self._open.discard(victim)
        self.shed_connections += 1
        victim.transport.abort()

    async def _write(self, writer: asyncio.StreamWriter, data: bytes) -> None:
        writer.write(data)
        await writer.drain()

    def _count(self, route: str, answer: Answer, started: float, msg: Message | None) -> None:
        seconds = time.perf_counter() - started
        self.metrics.request(route, answer.status, seconds)
        code = answer.body.get("code") if isinstance(answer.body, dict) else None
        if answer.status != 200 and code is not None:
            self.metrics.reject(code)
        if log.isEnabledFor(logging.INFO):
            fields: dict[str, Any] = {
                "route": route,
                "status": answer.status,
                "ms": round(seconds * 1000, 2),
            }
            if code is not None and answer.status != 200:
                fields["code"] = code
            if msg is not None:  # as the terminal sent them: escaped by the formatter
                fields["tenant"] = (msg.header("dakoku-tenant") or "")[:32]
                fields["terminal"] = (msg.header("dakoku-terminal") or "")[:32]
            log.info("request", extra={"fields": fields})

    # ------------------------------------------------------------------ routing

    async def _dispatch(self, msg: Message) -> tuple[bytes, Answer, str]:
        path = msg.target.split("?", 1)[0]
        loop = asyncio.get_running_loop()
        if path == "/healthz":
            answer = await loop.run_in_executor(self.executor, self._health, msg)
            return self.server.encode(answer), answer, "healthz"
        if path == "/metrics":
            if msg.method != "GET":
                answer = _error(METHOD_NOT_ALLOWED, "use GET for /metrics")
                answer.headers.append(("Allow", "GET"))
                return self.server.encode(answer), answer, "metrics"
            return self._metrics(msg)
        if path.startswith("/admin/"):
            return await loop.run_in_executor(self.executor, self._admin, msg, path)
        route = path if path in _ROUTE_NAMES else "other"
        if self.store.db.lost:  # the database file was replaced: acknowledge nothing
            answer = self._storage_lost()
            return self.server.encode(answer), answer, route
        pacer = self.store.pacer
        arrived = pacer.clock() if pacer is not None else None
        if not self.group_commit:
            answer = await loop.run_in_executor(self.executor, self._protocol, msg, arrived)
            return answer[0], answer[1], route
        future = loop.create_future()
        self._waiting.append((msg, arrived, future))
        if not self._draining:
            self._draining = True
            self._drainer = loop.create_task(self._drain())  # kept: a task needs a reference
        data, answer_obj = await future
        return data, answer_obj, route

    async def _drain(self) -> None:
        """Hand the waiting requests to the store worker in groups; each group is committed
        once, and its answers are released only after that commit."""
        loop = asyncio.get_running_loop()
        try:
            while self._waiting:
                group = self._waiting[:GROUP_MAX]
                del self._waiting[:GROUP_MAX]
                jobs = [(msg, arrived) for msg, arrived, _ in group]
                try:
                    answers = await loop.run_in_executor(self.executor, self._protocol_group, jobs)
                except Exception as e:
                    if isinstance(e, StorageLost):
                        failed = self._storage_lost()
                    else:
                        log.error("group commit failed", extra={"fields": {"error": repr(e)}})
                        failed = _error(SERVER_ERROR, "server error: %s" % type(e).__name__)
                    answers = [(self.server.encode(failed), failed)] * len(group)
                for (_, _, future), answer in zip(group, answers, strict=True):
                    if not future.done():
                        future.set_result(answer)
        finally:
            self._draining = False

    def _protocol_group(self, jobs: list) -> list[tuple[bytes, Answer]]:
        with self.store.group():
            answers = [self._protocol(msg, arrived) for msg, arrived in jobs]
        self.groups += 1
        return answers

    def _protocol(self, msg: Message, arrived: float | None) -> tuple[bytes, Answer]:
        self.store.request_arrived(arrived)
        answer = self.server.respond(msg, self.clock())
        if self.store.db.lost:  # noticed during this request: whatever it did is not kept
            answer = self._storage_lost()
        return self.server.encode(answer), answer

    def _storage_lost(self) -> Answer:
        """503 while the database open is not the file at its path (replaced or cut away)."""
        if not self._lost_logged:
            self._lost_logged = True
            log.error("database lost", extra={"fields": {"error": self.store.db.lost}})
        answer = Answer(503, {"code": SERVER_ERROR, "message": "storage unavailable"})
        answer.headers.append(("Retry-After", "60"))
        return answer

    def _health(self, msg: Message) -> Answer:
        if msg.method != "GET":
            return _error(METHOD_NOT_ALLOWED, "use GET for /healthz")
        try:
            self.store.probe(self.clock())  # a durable write: reads pass on a full disk
            current, _ = self.store.maintenance(self.clock())
        except StorageLost:
            self._storage_lost()  # logs it once
            error = self.store.db.lost_short + ": restart the receiver (see its log)"
            return Answer(503, {"status": "failing", "db": "replaced", "error": error})
        except Exception as e:  # the log has the whole error; the answer (no token) its kind
            log.warning("health check failed", extra={"fields": {"error": repr(e)}})
            error = type(e).__name__
            return Answer(503, {"status": "failing", "db": "cannot commit", "error": error})
        return Answer(
            200,
            {
                "status": "ok",
                "db": self.store.db.engine,
                "maintenance": current is not None,
                "time": self.clock(),
            },
        )

    def _metrics(self, msg: Message) -> tuple[bytes, Answer, str]:
        answer = Answer(200, {})
        pacer = self.store.pacer
        extra = {}
        extra["dakoku_connection_limit"] = float(self.max_connections)
        extra["dakoku_connections_shed"] = float(self.shed_connections)
        extra["dakoku_connections_refused"] = float(self.refused_connections)
        if pacer is not None:
            extra["dakoku_pacer_refused_total"] = float(pacer.refused)
            extra["dakoku_pacer_max_retry_after_seconds"] = float(pacer.max_wait_given)
        body = self.metrics.text(extra).encode()
        headers = [("Content-Type", "text/plain; version=0.0.4"), ("Cache-Control", "no-store")]
        return encode_response(200, headers, body), answer, "metrics"

    def _admin(self, msg: Message, path: str) -> tuple[bytes, Answer, str]:
        """Read-only administration over HTTP; writes go through ``dakoku cloud``. The
        operator token reads every tenant; a tenant's token (``dakoku cloud tenant token``)
        reads that tenant alone, on every route."""
        route = "admin"
        if not self.admin_token and not self.store.admin_tokens_exist():
            answer = _error(NOT_FOUND, "administration over HTTP is off (no admin token)")
            return self.server.encode(answer), answer, route
        given = msg.header("authorization") or ""
        token = given[7:].strip() if given[:7].lower() == "bearer " else ""
        scope: str | None = None  # the one tenant the token may read; None: every tenant
        operator = bool(self.admin_token) and hmac.compare_digest(
            token.encode(), (self.admin_token or "").encode()
        )
        if not operator:
            scope = self.store.admin_token_tenant(token) if token else None
            if scope is None:
                answer = Answer(
                    401, {"code": BAD_SIGNATURE, "message": "administration needs an admin token"}
                )
                answer.headers.append(("WWW-Authenticate", "Bearer"))
                return self.server.encode(answer), answer, route
        now = self.clock()
        current, _ = self.store.maintenance(now)
        if current is not None:  # MNT-02: administration is closed during maintenance
            wait = max(1, current["end"] - now)
            answer = _error(MAINTENANCE, "administration is closed during maintenance",
                            end=current["end"], retry_after=wait)  # fmt: skip
            answer.headers.append(("Retry-After", str(wait)))
            return self.server.encode(answer), answer, route
        if msg.method != "GET":
            answer = _error(METHOD_NOT_ALLOWED, "administration over HTTP is read-only: use GET")
            answer.headers.append(("Allow", "GET"))
            return self.server.encode(answer), answer, route
        parts = path.split("/")  # "", admin, v1, tenants, CODE, what
        if len(parts) != 6 or parts[2] != "v1" or parts[3] != "tenants":
            answer = _error(NOT_FOUND, "no such administration path")
            return self.server.encode(answer), answer, route
        tenant, what = parts[4], parts[5]
        if scope is not None and tenant != scope:
            answer = _error(TENANT_UNUSABLE, "this token is for tenant %s only" % scope)
            return self.server.encode(answer), answer, route
        try:
            self.store.tenant_info(tenant)  # an unknown tenant is 404 on every route
            if what == "punches.csv":
                body = csvio.export_punches(self.store, tenant).encode()
                headers = [("Content-Type", "text/csv; charset=utf-8")]
                return encode_response(200, headers, body), Answer(200, {}), route
            if what == "flagged":
                punches, conflicts = self.store.flagged(tenant)
                body_obj: Any = {
                    "punches": [
                        {"terminal": r[0], "seq": r[1], "code": r[2], "t": r[3],
                         "synced": bool(r[4]), "cred": bytes(r[5]).hex(),
                         "employee": r[6], "received": r[7]}
                        for r in punches
                    ],
                    "conflicts": [
                        {"terminal": r[0], "seq": r[1], "punch": json.loads(r[2]),
                         "received": r[3]}
                        for r in conflicts
                    ],
                }  # fmt: skip
            elif what == "terminals":
                body_obj = {"terminals": self.store.terminals(tenant)}
            else:
                answer = _error(NOT_FOUND, "no such administration path")
                return self.server.encode(answer), answer, route
        except RegistryError as e:
            answer = _error(NOT_FOUND, str(e))
            return self.server.encode(answer), answer, route
        answer = Answer(200, body_obj)
        return self.server.encode(answer), answer, route


_ROUTE_NAMES = {"/v1/hello", "/v1/punches", "/v1/heartbeat", "/v1/log", "/v1/roster"}


def _expects_continue(head: Message | None) -> bool:
    """The head is in, the body is not, and the client asked for ``100 Continue``."""
    if head is None:
        return False
    expect = head.header("expect")
    return expect is not None and expect.lower() == "100-continue"


def _keep_alive(msg: Message) -> bool:
    connection = (msg.header("connection") or "").lower()
    if msg.version == "HTTP/1.0":
        return "keep-alive" in connection
    return "close" not in connection


def _with_close(data: bytes) -> bytes:
    head_end = data.find(b"\r\n\r\n")
    return data[:head_end] + b"\r\nConnection: close" + data[head_end:]


# ---------------------------------------------------------------------- threads


class RunningReceiver:
    """A receiver on its own event-loop thread (tests, the simulator, benchmarks)::

    with RunningReceiver(store) as rx:
        rx.url  # "http://127.0.0.1:PORT"
    """

    def __init__(self, store: SqlStore, host: str = "127.0.0.1", port: int = 0, **kwargs):
        self.receiver = Receiver(store, **kwargs)
        self._host = host
        self._port = port
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name="dakoku-receiver", daemon=True)
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self.url = ""

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self.receiver.start(self._host, self._port))
        except BaseException as e:
            self._error = e
            self._ready.set()
            return
        self._ready.set()
        self._loop.run_forever()
        self._loop.run_until_complete(self.receiver.close())
        pending = asyncio.all_tasks(self._loop)  # connections still open: end them
        for task in pending:
            task.cancel()
        self._loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        self._loop.close()

    def __enter__(self) -> RunningReceiver:
        self._thread.start()
        self._ready.wait(30)
        if self._error is not None:
            raise self._error
        host, port = self.receiver.address
        scheme = "https" if self.receiver.ssl_context is not None else "http"
        self.url = "%s://%s:%d" % (scheme, host, port)
        return self

    def __exit__(self, *exc: object) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(30)
