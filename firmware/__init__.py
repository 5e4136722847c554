"""dakoku terminal firmware (MicroPython).

Everything in this package runs on a terminal: it imports only what MicroPython has, keeps real
I/O and wall time out of its cores (``main.py`` on a board is the only place that touches them),
and is tested on CPython and on the real MicroPython interpreter.
"""

VERSION = "0.1.0"
