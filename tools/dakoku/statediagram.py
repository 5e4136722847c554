"""The firmware's state table loaded into ``transitions`` (desktop only).

``load(model)`` builds a ``transitions`` machine from ``firmware/states.py`` with the semantics of
``firmware/fsm.py`` (rows tried in table order, first passing guards wins, ``None`` destination
is an internal transition, unknown events ignored, events fired by actions queued). The
differential test drives both with the same events; ``dakoku firmware diagram`` draws it.
"""

from __future__ import annotations

from typing import Any

from transitions import Machine
from transitions.extensions import GraphMachine

from firmware.states import STATES, TABLE


def add_rows(machine: Any, table=TABLE) -> None:
    for source, event, dest, guards, actions in table:
        sources: Any = (
            "*" if source == "*" else list(source) if isinstance(source, tuple) else source
        )
        machine.add_transition(
            event,
            sources,
            dest,
            conditions=[g for g in guards if not g.startswith("!")],
            unless=[g[1:] for g in guards if g.startswith("!")],
            after=list(actions),
        )


def load(model: Any, states=STATES, table=TABLE, initial: str = "booting") -> Machine:
    machine = Machine(
        model=model,
        states=list(states),
        initial=initial,
        auto_transitions=False,
        ignore_invalid_triggers=True,
        queued=True,
    )
    add_rows(machine, table)
    return machine


class _Blank:
    pass


def mermaid(title: str = "dakoku terminal") -> str:
    """The state diagram as Mermaid text (guards shown in brackets)."""
    model = _Blank()
    machine = GraphMachine(
        model=model,
        states=list(STATES),
        initial="booting",
        auto_transitions=False,
        graph_engine="mermaid",
        show_conditions=True,
        title=title,
    )
    add_rows(machine)
    return model.get_graph().draw(None)  # type: ignore[attr-defined]


def _parser():
    from dakoku.clihelp import parser as make_parser

    parser = make_parser(
        "dakoku firmware",
        "Firmware tools. 'diagram': the terminal's state diagram (Mermaid), from\n"
        "firmware/states.py; docs/FIRMWARE.md carries a copy.",
    )
    parser.add_argument("what", choices=["diagram"], help="what to produce: the state diagram")
    parser.add_argument("-o", "--output", help="write to this file (default: standard output)")
    return parser


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    text = mermaid()
    if args.output:
        with open(args.output, "w", encoding="utf-8") as f:
            f.write(text)
    else:
        print(text)
    return 0
