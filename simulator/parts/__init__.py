"""Simulated parts of a terminal's board (MicroPython-compatible): an I2C bus with RTC chips,
pins, PWM and ADC channels, a key matrix, a network, and stand-ins for the display and finger
module; ``board`` puts them together as the ``env`` of hardware/board.py."""
