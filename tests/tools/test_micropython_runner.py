"""The MicroPython runner: `dakoku micropython` and the Python API behind it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from dakoku.micropython import (
    EXIT_TIMEOUT,
    EXIT_TRAP,
    GUEST_REPO,
    GUEST_SCRIPT_DIR,
    MicroPython,
    Mount,
    repo_root,
    shared_interpreter,
    translate_argv,
)

import firmware

DAKOKU = str(Path(sys.executable).with_name("dakoku"))


def dakoku(*args: str, cwd: Path | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        [DAKOKU, *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


# -- the command line -------------------------------------------------------------------


def test_cli_runs_real_micropython():
    proc = dakoku("micropython", "-c", "import sys; print(sys.implementation.name)")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "micropython\n"


def test_cli_small_heap_gives_memoryerror_and_nonzero_exit():
    proc = dakoku("micropython", "-X", "heapsize=16K", "-c", "b = bytearray(64000)")
    assert proc.returncode != 0
    assert "MemoryError" in proc.stderr


def test_cli_exit_status_is_the_guests():
    proc = dakoku("micropython", "-c", "import sys; sys.exit(3)")
    assert proc.returncode == 3


def test_cli_terminal_code_is_importable_and_is_this_checkout():
    proc = dakoku("micropython", "-c", "import firmware; print(firmware.VERSION)")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == firmware.VERSION


def test_cli_timeout_stops_an_endless_guest():
    proc = dakoku("micropython", "--timeout", "0.5", "-c", "while True:\n    pass")
    assert proc.returncode == EXIT_TIMEOUT
    assert "time limit" in proc.stderr


def test_cli_fuel_budget_traps():
    proc = dakoku("micropython", "--fuel", "2000000", "-c", "while True:\n    pass")
    assert proc.returncode == EXIT_TRAP
    assert "fuel" in proc.stderr


def test_cli_bad_option_value_is_a_usage_error():
    proc = dakoku("micropython", "--timeout", "soon", "-c", "pass")
    assert proc.returncode == 2
    assert "usage" in proc.stderr


def test_cli_runs_a_file_outside_the_repo_with_its_arguments(tmp_path):
    script = tmp_path / "hello.py"
    script.write_text("import sys\nprint('args', sys.argv[1:])\n")
    proc = dakoku("micropython", str(script), "a", "b", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "args ['a', 'b']"


def test_cli_scratch_directory_is_the_guests_working_directory(tmp_path):
    scratch = tmp_path / "scratch"
    proc = dakoku(
        "micropython", "--scratch", str(scratch), "-c", "open('note.txt', 'w').write('kept')"
    )
    assert proc.returncode == 0, proc.stderr
    assert (scratch / "note.txt").read_text() == "kept"


def test_cli_repo_is_read_only_in_the_guest():
    proc = dakoku("micropython", "-c", f"open('{GUEST_REPO}/intruder.txt', 'w')")
    assert proc.returncode == 1
    assert "OSError" in proc.stderr
    assert not (repo_root() / "intruder.txt").exists()


def test_cli_starts_well_under_a_second_once_cached():
    # Not a timing assertion: the cache file must exist after a run, which is what makes
    # starts fast (measured by `dakoku bench micropython`).
    dakoku("micropython", "-c", "pass")
    interp = shared_interpreter()
    assert interp._cache_path(interp.wasm_path.read_bytes()).is_file()


# -- the Python API -----------------------------------------------------------------------


def test_fuel_is_deterministic():
    interp = shared_interpreter()
    code = "s = 0\nfor i in range(1000):\n    s += i * i\nprint(s)"
    first = interp.run(["-c", code])
    second = interp.run(["-c", code])
    assert first.stdout == b"332833500\n"
    assert first.fuel_used == second.fuel_used > 0


def test_more_work_costs_more_fuel():
    interp = shared_interpreter()
    small = interp.run(["-c", "for i in range(100): pass"]).fuel_used
    large = interp.run(["-c", "for i in range(10000): pass"]).fuel_used
    assert large > small * 5


def test_output_is_streamed_to_callbacks_in_order():
    chunks: list[bytes] = []
    result = shared_interpreter().run(["-c", "print('one')\nprint('two')"], on_stdout=chunks.append)
    assert b"".join(chunks) == b"one\ntwo\n" == result.stdout


def test_extra_mount_is_visible(tmp_path):
    (tmp_path / "data.txt").write_text("hello")
    result = shared_interpreter().run(
        ["-c", "print(open('/data/data.txt').read())"], mounts=[Mount(tmp_path, "/data")]
    )
    assert result.stdout == b"hello\n", result.stderr


def test_host_function_is_callable_from_the_guest():
    calls = []

    def add(a, b):
        calls.append((a, b))
        return a + b

    code = (
        "import host, json\n"
        "answer = json.loads(host.call('add', json.dumps({'args': [2, 40]})))\n"
        "print(answer['value'])\n"
    )
    result = shared_interpreter().run(["-c", code], host_functions={"add": add})
    assert result.stdout == b"42\n", result.stderr
    assert calls == [(2, 40)]


def test_unknown_host_function_is_an_error_answer_not_a_crash():
    code = (
        "import host, json\n"
        "answer = json.loads(host.call('nope', json.dumps({})))\n"
        "print(answer['ok'], answer['error'])\n"
    )
    result = shared_interpreter().run(["-c", code])
    assert result.stdout.startswith(b"False LookupError"), result.stderr


def test_damaged_cache_is_replaced(tmp_path):
    first = MicroPython(cache_dir=tmp_path)
    cache_file = first._cache_path(first.wasm_path.read_bytes())
    cache_file.write_bytes(b"not a compiled module")
    second = MicroPython(cache_dir=tmp_path)
    assert second.run(["-c", "print(1)"]).stdout == b"1\n"
    assert cache_file.read_bytes() != b"not a compiled module"


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["-c", "print(1)", "x"], ["-c", "print(1)", "x"]),
        (["-X", "heapsize=64K", "-c", "pass"], ["-X", "heapsize=64K", "-c", "pass"]),
        (["-m", "firmware"], ["-m", "firmware"]),
        (["firmware/__init__.py", "-c"], [f"{GUEST_REPO}/firmware/__init__.py", "-c"]),
        ([], []),
    ],
)
def test_translate_argv(args, expected):
    cmd = translate_argv(args, repo_root(), repo_root())
    assert cmd.guest_argv == expected
    assert cmd.interactive == (args == [])


def test_translate_argv_mounts_a_script_outside_the_repo(tmp_path):
    cmd = translate_argv(["-X", "heapsize=8K", "run.py", "--flag"], tmp_path, repo_root())
    assert cmd.guest_argv == ["-X", "heapsize=8K", f"{GUEST_SCRIPT_DIR}/run.py", "--flag"]
    assert cmd.mounts == [Mount(tmp_path.resolve(), GUEST_SCRIPT_DIR)]
    assert not cmd.interactive
