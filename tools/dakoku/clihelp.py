"""Help that helps, for every ``dakoku`` command: plain text, one line per option with its default.

``Formatter`` appends ``(default: …)`` to an option's help when the help does not already say
its default: the value, or ``off`` for a flag. An option whose default is None must say in its
help what leaving it out means (tests/tools/test_cli_help.py checks that every option of every
command says ``default``). ``walk`` visits a parser and all its subcommands; ``everywhere``
adds an option to each subcommand too, so that ``dakoku cloud tenant list --db FILE`` works as
well as ``dakoku cloud --db FILE tenant list``.
"""

from __future__ import annotations

import argparse
import textwrap
from collections.abc import Iterator


class Formatter(argparse.RawDescriptionHelpFormatter):
    """Descriptions as written (paragraphs kept); option help wrapped, with its default."""

    def __init__(self, prog: str) -> None:
        super().__init__(prog, max_help_position=32, width=100)

    def _split_lines(self, text: str, width: int) -> list[str]:
        # Never break inside a name like --tls-cert or dakoku-cloud.db.
        return textwrap.wrap(" ".join(text.split()), width, break_on_hyphens=False)

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if "default" in text or not action.option_strings:
            return text
        if isinstance(action, (argparse._StoreTrueAction, argparse._StoreFalseAction)):
            return text + " (default: off)"
        if action.default is None or action.default is argparse.SUPPRESS:
            return text
        if isinstance(action, argparse._AppendAction):
            return text + " (default: none; give it again for more)"
        return text + " (default: %(default)s)"


def parser(prog: str, description: str, **kwargs) -> argparse.ArgumentParser:
    return argparse.ArgumentParser(
        prog=prog, description=description, formatter_class=Formatter, **kwargs
    )


def subcommands(p: argparse.ArgumentParser) -> argparse._SubParsersAction | None:
    for action in p._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action
    return None


def walk(p: argparse.ArgumentParser, path: tuple[str, ...] = ()) -> Iterator:
    """(words after the program, parser) for ``p`` and every subcommand below it."""
    yield path, p
    sub = subcommands(p)
    if sub is not None:
        for name, child in sub.choices.items():
            yield from walk(child, (*path, name))


def everywhere(p: argparse.ArgumentParser, *names: str, **kwargs) -> None:
    """Add the option to every subcommand below ``p`` (not given there: the value given before
    the subcommand, or the default, stands)."""
    for path, child in walk(p):
        if path:
            child.add_argument(*names, **{**kwargs, "default": argparse.SUPPRESS})


def command(sub: argparse._SubParsersAction, name: str, summary: str, **kwargs):
    """A subcommand with its one-line summary (shown in its parent's list and as its own
    description) and this module's formatter."""
    kwargs.setdefault("description", summary[0].upper() + summary[1:] + ".")
    return sub.add_parser(name, help=summary, formatter_class=Formatter, **kwargs)
