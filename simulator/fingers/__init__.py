"""Simulated finger modules: an R503 fingerprint module and an XG finger-vein module that answer
byte for byte, used over the card readers' faulty serial line (``simulator.readers.line``) or a
pseudo-terminal (``simulator.readers.pty``). See docs/HARDWARE.md."""
