"""dakoku hardware layer (MicroPython): drivers written against an injected bus, board profiles.

Not built yet: see docs/ARCHITECTURE.md.
"""
