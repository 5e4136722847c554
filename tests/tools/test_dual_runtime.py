"""The dual-runtime pytest plugin (dakoku.mpytest), tested on throw-away projects."""

from __future__ import annotations

import pytest


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeini(
        """
        [pytest]
        dakoku_dual_runtime = terminal
        dakoku_micropython_timeout = 5
        """
    )
    pytester.mkdir("terminal")
    return pytester


def write(project: pytest.Pytester, name: str, source: str) -> None:
    (project.path / "terminal" / name).write_text(source)


def run(project: pytest.Pytester, *args: str) -> pytest.RunResult:
    return project.runpytest_subprocess("-rA", "-p", "no:cacheprovider", *args)


def test_each_test_is_two_items_named_by_runtime(project):
    write(project, "test_ok.py", "def test_sum():\n    assert sum([1, 2]) == 3\n")
    result = run(project, "-v")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(
        ["*test_ok.py::test_sum?cpython? PASSED*", "*test_ok.py::test_sum?micropython? PASSED*"]
    )


def test_micropython_item_really_runs_on_micropython(project):
    write(
        project,
        "test_which.py",
        "import sys\n\ndef test_runtime():\n"
        "    assert sys.implementation.name == 'micropython', sys.implementation.name\n",
    )
    result = run(project)
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["FAILED *test_runtime?cpython?*"])


def test_missing_module_fails_on_micropython_and_shows_the_guest_traceback(project):
    write(project, "test_net.py", "def test_uses_socket():\n    import socket\n    assert socket\n")
    result = run(project)
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*test_uses_socket failed on MicroPython (heapsize=64K)*",
            "*guest stderr (MicroPython's traceback)*",
            "*ImportError: no module named 'socket'*",
            "FAILED *test_uses_socket?micropython?*",
        ]
    )


def test_dataclasses_fail_on_micropython(project):
    write(
        project,
        "test_dc.py",
        "def test_dataclass():\n"
        "    from dataclasses import dataclass\n\n"
        "    @dataclass\n"
        "    class P:\n"
        "        x: int\n\n"
        "    assert P(1).x == 1\n",
    )
    result = run(project)
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*ImportError*dataclasses*"])


def test_memory_error_in_the_small_heap_is_a_failure(project):
    write(project, "test_heap.py", "def test_big():\n    assert len(bytearray(200000)) == 200000\n")
    result = run(project)
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*MemoryError*"])


def test_module_may_ask_for_a_larger_heap(project):
    write(
        project,
        "test_bigheap.py",
        "MICROPYTHON_HEAPSIZE = '512K'\n\n"
        "def test_big():\n    assert len(bytearray(200000)) == 200000\n",
    )
    run(project).assert_outcomes(passed=2)


def test_exit_before_the_end_is_a_failure(project):
    write(project, "test_exit.py", "import sys\n\ndef test_quits():\n    sys.exit(0)\n")
    result = run(project)
    # On CPython, SystemExit inside a test is a failure too.
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(["*exited before the test function returned*"])


def test_time_out_is_a_failure_not_a_skip(project):
    write(project, "test_loop.py", "def test_forever():\n    while True:\n        pass\n")
    result = run(project, "--runtime", "micropython")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*time limit of 5 s reached*"])


def test_helper_module_beside_the_tests_imports_on_both_runtimes(project):
    write(project, "helper_mod.py", "def double(x):\n    return 2 * x\n")
    project.mkdir("terminal/sub")
    (project.path / "terminal" / "sub" / "test_deep.py").write_text(
        "from helper_mod import double\n\ndef test_double():\n    assert double(21) == 42\n"
    )
    run(project).assert_outcomes(passed=2)


def test_terminal_test_with_arguments_is_a_collection_error(project):
    write(project, "test_fixture.py", "def test_wants(tmp_path):\n    assert tmp_path\n")
    result = run(project)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*takes no arguments*"])


def test_ordinary_tests_outside_the_folder_run_once(project):
    project.makepyfile(test_plain="def test_plain():\n    assert True\n")
    result = run(project, "-v")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*test_plain.py::test_plain PASSED*"])


def test_runtime_option_selects_one_runtime(project):
    write(project, "test_ok.py", "def test_a():\n    pass\n\ndef test_b():\n    pass\n")
    run(project, "--runtime", "cpython").assert_outcomes(passed=2)
    result = run(project, "--runtime", "micropython", "-v")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["*test_a?micropython? PASSED*"])
