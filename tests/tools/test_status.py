"""One status everywhere: the list in tools/dakoku/status.py is what ``dakoku sim`` prints and
what README.md and docs/ARCHITECTURE.md say (``dakoku status --write`` rewrites their blocks)."""

from __future__ import annotations

import pytest
from dakoku import sim, status
from dakoku.cli import main


@pytest.mark.parametrize("document", status.DOCUMENTS)
def test_the_documents_say_what_the_list_says(document):
    text = (status.ROOT / document).read_text("utf-8")
    block = status.current(text)
    assert block is not None, f"{document} has lost its status markers"
    assert block == status.markdown(document), f"{document} is stale: run dakoku status --write"


def test_every_part_has_a_known_state_and_a_tracker():
    for part, state, _note, where in status.PARTS:
        assert state in (status.BUILT, status.PARTLY, status.NOT_BUILT), part
        assert where, part


def test_dakoku_sim_prints_the_list(monkeypatch, tmp_path, capsys):
    """The status lines of ``dakoku sim`` are the list's (the demonstrations stubbed out)."""
    monkeypatch.setattr(sim, "run_demonstrations", lambda: 0)
    assert sim.main([]) == 0
    out = capsys.readouterr().out
    assert [line.strip() for line in status.lines_plain()] == [
        line.strip() for line in out.splitlines()[2 : 2 + len(status.lines_plain())]
    ]


def test_check_finds_a_stale_document_and_write_mends_it(monkeypatch, tmp_path, capsys):
    for document in status.DOCUMENTS:
        path = tmp_path / document
        path.parent.mkdir(parents=True, exist_ok=True)
        text = (status.ROOT / document).read_text("utf-8")
        path.write_text(text.replace("**not built**", "**built**"), "utf-8")
    monkeypatch.setattr(status, "ROOT", tmp_path)
    assert main(["status", "--check"]) == 1
    assert "out of date: README.md, docs/ARCHITECTURE.md" in capsys.readouterr().err
    assert main(["status", "--write"]) == 0
    assert main(["status", "--check"]) == 0
    (tmp_path / "README.md").write_text("no markers\n", "utf-8")
    assert main(["status", "--check"]) == 1
    assert "README.md: no status markers" in capsys.readouterr().err
