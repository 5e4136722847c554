"""Helpers for terminal-code tests; imports only what MicroPython has.

On MicroPython each test runs in a fresh guest whose working directory is an empty scratch
directory, so a relative path is already private to the test. On CPython a fresh temporary
directory plays that part.
"""

import sys

IS_MICROPYTHON = sys.implementation.name == "micropython"


def scratch_dir():
    """A directory private to the running test, as a path string."""
    if IS_MICROPYTHON:
        return "."
    import tempfile  # type: ignore[import-not-found]  # CPython only; not reached in the guest

    return tempfile.mkdtemp(prefix="dakoku-test-")


def scratch_path(name):
    return scratch_dir() + "/" + name
