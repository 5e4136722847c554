"""Help at every level of ``dakoku``: plain text, a one-line help for every subcommand and
option, each option with its default; ``--db`` after the subcommand as well as before."""

from __future__ import annotations

import re

import pytest
from dakoku import (
    bench,
    boardcli,
    clihelp,
    cloud,
    displaycli,
    fontbuild,
    readercli,
    sim,
    statediagram,
    status,
)
from dakoku.cli import COMMANDS, main

PARSERS = {
    "cloud": cloud._parser,
    "sim": sim._parser,
    "bench": bench._parser,
    "firmware": statediagram._parser,
    "status": status._parser,
    "reader": readercli._parser,
    "font": fontbuild._parser,
    "display": displaycli._parser,
    "board": boardcli._parser,
}
MARKUP = re.compile(r"``|:(class|func|meth|mod|attr):`|\.\. \w+::")


def every_parser():
    for command, make in PARSERS.items():
        for path, parser in clihelp.walk(make()):
            yield (command, *path), parser


LEVELS = [words for words, _parser in every_parser()]


def test_every_command_has_a_parser_here_or_its_own_help():
    assert set(COMMANDS) == {*PARSERS, "micropython"}


@pytest.mark.parametrize("words", LEVELS, ids=" ".join)
def test_every_option_and_subcommand_has_a_help_with_its_default(words):
    parser = dict(every_parser())[words]
    formatter = clihelp.Formatter(parser.prog)
    for action in parser._actions:
        if action.dest == "help":
            continue
        if isinstance(action, clihelp.argparse._SubParsersAction):
            for choice in action._choices_actions:
                assert choice.help, f"{' '.join(words)} {choice.dest}: no help"
            continue
        assert action.help, f"{' '.join(words)} {action.dest}: no help"
        if action.option_strings:
            text = formatter._get_help_string(action)
            assert "default" in text, f"{' '.join(words)} {action.option_strings[0]}: {text}"


@pytest.mark.parametrize("words", [*LEVELS, ("micropython",)], ids=" ".join)
def test_help_is_plain_text(words, capsys):
    try:
        status_code = main([*words, "--help"])
    except SystemExit as e:
        status_code = e.code
    out = capsys.readouterr().out
    assert status_code == 0 and out.startswith("usage: ")
    assert not MARKUP.search(out), MARKUP.search(out)
    for line in out.splitlines():
        assert len(line) <= 100, line


def test_the_top_level_lists_every_command(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: dakoku")
    for name in COMMANDS:
        assert re.search(rf"^  {name} +\S", out, re.M), name
    assert main([]) == 2  # no command: the same help, as an error
    assert "commands:" in capsys.readouterr().err


def test_micropython_options_say_their_defaults(capsys):
    assert main(["micropython", "--help"]) == 0
    out = capsys.readouterr().out
    options = re.findall(r"^  (--?\w[\w-]*)[^\n]*(?:\n {5,}[^\n]*)*", out, re.M)
    assert {"--timeout", "--scratch", "--fuel", "--stats", "-X"} <= set(options)
    blocks = re.split(r"\n(?=  -)", out.split("\n\n  -", 1)[1])
    for block in blocks:
        assert "default" in block or "--help" in block, block


def test_port_zero_is_documented(capsys):
    with pytest.raises(SystemExit):
        main(["cloud", "serve", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "0 takes a free one, printed as 'serving http://HOST:PORT'" in out


@pytest.mark.parametrize(
    "argv",
    [
        ["cloud", "--db", "{db}", "tenant", "add", "ACME01"],
        ["cloud", "tenant", "add", "ACME01", "--db", "{db}"],
        ["cloud", "tenant", "--db", "{db}", "add", "ACME01"],
    ],
    ids=["before", "after", "between"],
)
def test_db_before_or_after_the_subcommand(argv, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # the default database would land here
    monkeypatch.delenv("DAKOKU_DB", raising=False)
    db = str(tmp_path / "named.db")
    assert main([a.format(db=db) for a in argv]) == 0
    assert (tmp_path / "named.db").exists() and not (tmp_path / cloud.DEFAULT_DB).exists()
    capsys.readouterr()
    assert main(["cloud", "tenant", "list", "--db", db]) == 0
    assert "ACME01" in capsys.readouterr().out
