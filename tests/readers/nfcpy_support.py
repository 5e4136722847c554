"""The nfcpy import the reader checks share (a module of its own: conftest names clash)."""

from __future__ import annotations

import os

import pytest


def require_nfcpy():
    """The nfcpy package with the drivers the checks use; skips without it, except under CI,
    where the ImportError is raised: CI must run the outside check, never skip it."""
    try:
        import nfc as nfcpy
        import nfc.clf.pn532
        import nfc.clf.rcs380
        import nfc.clf.rcs956
        import nfc.clf.transport
    except ImportError as e:
        if os.environ.get("CI"):
            raise
        pytest.skip(f"nfcpy not installed: {e}")
    assert nfcpy.__version__ == "1.0.4", nfcpy.__version__
    return nfcpy
