"""Every command's ``--help`` reads as plain text: no reStructuredText literals."""

from __future__ import annotations

import argparse
from collections.abc import Iterator

from shardflow_tools.cli import build_parser


def _parsers(parser: argparse.ArgumentParser) -> Iterator[argparse.ArgumentParser]:
    yield parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                yield from _parsers(sub)


def test_no_help_shows_restructuredtext_literals() -> None:
    parsers = list(_parsers(build_parser()))
    assert {"shardflow dlq", "shardflow produce"} <= {p.prog for p in parsers}
    marked = [p.prog for p in parsers if "``" in p.format_help()]
    assert not marked, marked
