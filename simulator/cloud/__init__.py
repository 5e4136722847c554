"""The reference receiver (desktop, CPython): the protocol's server role as a real HTTP service
on SQLite (default) or PostgreSQL, its registry and administration. See docs/RECEIVER.md."""
