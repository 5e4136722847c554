"""The finger modules under random sequences (tests/fingers/finger_machine.py), bounded here;
``dakoku bench board`` runs more examples."""

from __future__ import annotations

import os
import sys

from hypothesis import settings

sys.path.insert(0, os.path.dirname(__file__))

from finger_machine import FingerMachine

TestFingerMachine = FingerMachine.TestCase
TestFingerMachine.settings = settings(max_examples=20, stateful_step_count=20, deadline=None)
