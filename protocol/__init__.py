"""dakoku upload protocol as code (MicroPython-compatible, sans-IO).

Message types, their JSON encoding and validation, request signing, a small HTTP/1.1 codec and
the two roles (terminal client, receiver server). Not built yet: see docs/ARCHITECTURE.md.
"""

VERSION = 1  # the protocol version, the first path segment of every request: /v1/ (PRT-TR-3)
