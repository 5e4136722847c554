"""nfcpy, the outside check of the simulated readers: under CI a missing nfcpy fails."""

from __future__ import annotations

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))

from nfcpy_support import require_nfcpy


@pytest.fixture(scope="session")
def nfc():
    return require_nfcpy()
