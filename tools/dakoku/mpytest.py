"""pytest plugin: terminal-code tests run on CPython *and* on the real MicroPython.

The convention (docs/ARCHITECTURE.md, "Tests on two runtimes"):

- a test module below a folder named in the ini option ``dakoku_dual_runtime`` is terminal-code
  test code: it imports only what MicroPython has, and its tests are plain functions without
  arguments that use ``assert`` (no fixtures, no pytest imports, no parametrize);
- each such function becomes two pytest items, ``test_x[cpython]`` and ``test_x[micropython]``;
- the MicroPython item runs that one function in a fresh interpreter (WASI build, wasmtime) with
  the repository at ``/repo``, the dual-runtime folder at ``/tests`` and a fresh scratch
  directory as ``/`` — with a small heap (``dakoku_micropython_heapsize``, 64K by default; a
  module may set ``MICROPYTHON_HEAPSIZE = "128K"``) and a time bound;
- a guest exception, ``MemoryError``, missing module, exit before the end, trap or time-out is a
  failure, never a skip; the report shows the guest's own traceback.

Helper modules in a dual-runtime folder (not named ``test_*``) are importable by their plain name
on both runtimes, so module basenames must be unique across those folders.
"""

from __future__ import annotations

import inspect
import sys
import tempfile
from pathlib import Path

import pytest

from dakoku.micropython import GUEST_REPO, GuestResult, Mount, shared_interpreter

GUEST_TESTS = "/tests"
PASS_MARKER = "<<dakoku-guest-test-passed>>"
RUNTIMES = ("cpython", "micropython")

_ROOTS = pytest.StashKey[list]()

# Runs one test function inside the guest. Nothing is caught: an exception is printed with its
# traceback by MicroPython itself and the guest exits with status 1.
_GUEST_MAIN = """\
import {module} as _m
_m.{function}()
print({marker!r})
"""


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(
        "dakoku_dual_runtime",
        type="paths",
        default=[],
        help="folders whose test modules run on CPython and on MicroPython",
    )
    parser.addini("dakoku_micropython_heapsize", default="64K", help="guest heap (-X heapsize)")
    parser.addini("dakoku_micropython_timeout", default="60", help="seconds per guest test")
    parser.getgroup("dakoku").addoption(
        "--runtime",
        choices=("both", *RUNTIMES),
        default="both",
        help="run dual-runtime tests on both runtimes (default) or only one",
    )


def pytest_configure(config: pytest.Config) -> None:
    roots = [Path(p).resolve() for p in config.getini("dakoku_dual_runtime")]
    config.stash[_ROOTS] = roots
    # Helper modules beside the tests import by plain name on CPython, as they do in the guest.
    for root in reversed(roots):
        if str(root) not in sys.path:
            sys.path.insert(0, str(root))


def dual_runtime_root(config: pytest.Config, path: Path) -> Path | None:
    """The dual-runtime folder that holds ``path``, or None for an ordinary test module."""
    resolved = path.resolve()
    for root in config.stash.get(_ROOTS, []):
        if resolved.is_relative_to(root):
            return root
    return None


@pytest.hookimpl(tryfirst=True)
def pytest_pycollect_makeitem(collector, name, obj):
    if not isinstance(collector, pytest.Module):
        return None
    root = dual_runtime_root(collector.config, collector.path)
    if root is None:
        return None
    if not (inspect.isfunction(obj) and collector.funcnamefilter(name)):
        return None
    if getattr(obj, "__module__", None) != collector.obj.__name__:
        return []  # imported from elsewhere: its own module runs it
    if inspect.signature(obj).parameters:
        raise collector.CollectError(
            f"{name}: a terminal-code test takes no arguments (it must run on MicroPython, "
            "where there are no fixtures)"
        )
    wanted = collector.config.getoption("runtime")
    items = []
    if wanted in ("both", "cpython"):
        items.append(
            # No originalname: pytest would build the node id from it and drop "[cpython]".
            pytest.Function.from_parent(collector, name=f"{name}[cpython]", callobj=obj)
        )
    if wanted in ("both", "micropython"):
        heapsize = getattr(
            collector.obj,
            "MICROPYTHON_HEAPSIZE",
            collector.config.getini("dakoku_micropython_heapsize"),
        )
        items.append(
            MicroPythonTest.from_parent(
                collector,
                name=f"{name}[micropython]",
                func_name=name,
                root=root,
                heapsize=str(heapsize),
                timeout_s=float(collector.config.getini("dakoku_micropython_timeout")),
            )
        )
    return items


class GuestTestFailed(Exception):
    def __init__(self, result: GuestResult, why: str):
        super().__init__(why)
        self.result = result
        self.why = why


class MicroPythonTest(pytest.Item):
    """One terminal-code test function run inside MicroPython."""

    def __init__(self, *, func_name: str, root: Path, heapsize: str, timeout_s: float, **kw):
        super().__init__(**kw)
        self.func_name = func_name  # not `function`: pytest expects a callable there
        self.root = root
        self.heapsize = heapsize
        self.timeout_s = timeout_s

    def guest_argv(self) -> tuple[list[str], dict[str, str]]:
        rel = self.path.parent.resolve().relative_to(self.root).as_posix()
        guest_dir = GUEST_TESTS if rel == "." else f"{GUEST_TESTS}/{rel}"
        code = _GUEST_MAIN.format(
            module=self.path.stem, function=self.func_name, marker=PASS_MARKER
        )
        env = {"MICROPYPATH": f"{guest_dir}:{GUEST_TESTS}:{GUEST_REPO}:.frozen"}
        return ["-X", f"heapsize={self.heapsize}", "-c", code], env

    def runtest(self) -> None:
        argv, env = self.guest_argv()
        with tempfile.TemporaryDirectory(prefix="dakoku-guest-") as scratch:
            result = shared_interpreter().run(
                argv,
                mounts=[Mount(self.root, GUEST_TESTS)],
                scratch=Path(scratch),
                env=env,
                timeout_s=self.timeout_s,
            )
        self.user_properties.append(("micropython_fuel", result.fuel_used))
        out = result.stdout.decode("utf-8", "replace")
        if result.stdout:
            self.add_report_section("call", "guest stdout", out)
        if result.trap:
            raise GuestTestFailed(result, f"the guest was stopped: {result.trap}")
        if result.exit_status != 0:
            raise GuestTestFailed(result, f"the guest exited with status {result.exit_status}")
        if PASS_MARKER not in out.splitlines():
            raise GuestTestFailed(result, "the guest exited before the test function returned")

    def repr_failure(self, excinfo, style=None):
        if isinstance(excinfo.value, GuestTestFailed):
            failure = excinfo.value
            err = failure.result.stderr.decode("utf-8", "replace").rstrip()
            lines = [
                f"{self.func_name} failed on MicroPython (heapsize={self.heapsize}): {failure.why}",
            ]
            if err:
                lines += ["--- guest stderr (MicroPython's traceback) ---", err]
            return "\n".join(lines)
        return super().repr_failure(excinfo, style=style)

    def reportinfo(self):
        return self.path, None, f"{self.func_name} on MicroPython"
