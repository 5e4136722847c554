"""Simulated card readers: FeliCa cards in a field, PN532, RC-S620S and RC-S380 chips that
answer byte for byte, a serial line with faults, and (CPython) a pseudo-terminal and a fake USB
transport to reach them from any serial program or from nfcpy. See docs/HARDWARE.md."""
