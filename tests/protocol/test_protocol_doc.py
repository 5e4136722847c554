"""docs/PROTOCOL.md: every rule ID the code and the tests cite exists in the document."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "PROTOCOL.md").read_text(encoding="utf-8")
DEFINED = set(re.findall(r"\*\*(PRT-[A-Z]+-\d+)\*\*", DOC))


def cited():
    for folder in ("protocol", "tests", "firmware", "tools"):
        for path in (ROOT / folder).rglob("*.py"):
            for rule in re.findall(r"PRT-[A-Z]+-\d+", path.read_text(encoding="utf-8")):
                yield rule, path.relative_to(ROOT)


def test_rules_are_defined_once():
    definitions = re.findall(r"\*\*(PRT-[A-Z]+-\d+)\*\*", DOC)
    assert len(definitions) == len(DEFINED) and len(DEFINED) > 50


def test_every_cited_rule_exists():
    missing = {(rule, str(path)) for rule, path in cited() if rule not in DEFINED}
    assert not missing


def test_most_rules_are_cited_by_a_test():
    tested = {rule for rule, path in cited() if path.parts[0] == "tests"}
    assert len(tested & DEFINED) >= 30
