"""docs/CONFIGURATION.md documents every configuration key with its real default."""

import json
import re
from pathlib import Path

from firmware.config import KEYS

DOC = (Path(__file__).resolve().parents[2] / "docs" / "CONFIGURATION.md").read_text("utf-8")


def test_every_key_is_documented_with_its_default():
    rows = dict(re.findall(r"^\| `([a-z_]+)` \| `([^`]*)`", DOC, re.M))
    assert set(rows) == set(KEYS)
    for key, (_kind, default, _rule) in KEYS.items():
        shown = rows[key]
        if isinstance(default, str):
            assert shown in (default, json.dumps(default)), key
        else:
            assert json.loads(shown) == default, key
