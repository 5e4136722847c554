"""docs/FIRMWARE.md carries the current state diagram and every event code."""

import re
from pathlib import Path

from dakoku.statediagram import mermaid

from firmware import eventlog

DOC = (Path(__file__).resolve().parents[2] / "docs" / "FIRMWARE.md").read_text("utf-8")


def test_the_diagram_in_the_document_is_the_current_one():
    block = DOC.split("```mermaid\n", 1)[1].split("```", 1)[0]
    assert block.strip() == mermaid().strip(), "run: dakoku firmware diagram (docs/FIRMWARE.md)"


def test_every_event_code_is_documented():
    codes = {v for k, v in vars(eventlog).items() if k.isupper() and isinstance(v, int)}
    codes -= {
        eventlog.FORMAT_VERSION,
        eventlog.HEADER_SIZE,
        eventlog.RECORD_SIZE,
        eventlog.TEXT_MAX,
    }
    table = DOC.split("## Event codes", 1)[1].split("## States", 1)[0]
    documented = {int(n) for n in re.findall(r"\b(\d+)\b", table)}
    assert codes <= documented, sorted(codes - documented)
