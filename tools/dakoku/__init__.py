"""Desktop tools for dakoku: the ``dakoku`` command line, the MicroPython runner, benchmarks."""

__version__ = "0.1.0"
