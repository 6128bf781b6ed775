"""MkDocs hook: the CLI reference in docs/cli.md, generated from the argparse parser.

`interpface.cli.main.build_parser()` builds the whole `interpface` command, including the subcommands
that live with their subsystem (training, evaluation, analysis, dashboard). This hook walks its
subparsers and replaces the marker ``<!-- cli-reference -->`` in cli.md with a table of commands and
each command's ``--help``, so the page can never drift from the code. Building the parser imports
neither torch nor the dashboard.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

MARKER = "<!-- cli-reference -->"
PAGE = "cli.md"
WIDTH = "88"  # argparse wraps help to $COLUMNS: fixed, so the page is the same on every machine


def _parser() -> argparse.ArgumentParser:
    root = Path(__file__).resolve().parents[2]
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    from interpface.cli.main import build_parser

    return build_parser()


def _subcommands(parser: argparse.ArgumentParser):
    """(name, help, subparser) for each subcommand of `parser`, in the order they were added."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {a.dest: a.help or "" for a in action._choices_actions}
            for name, sub in action.choices.items():
                yield name, helps.get(name, ""), sub


def _help(parser: argparse.ArgumentParser) -> str:
    old = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = WIDTH
    try:
        return parser.format_help().rstrip()
    finally:
        if old is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = old


def _walk(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()):
    """Depth first: (command path, one-line help, parser) for every command that has a --help."""
    for name, text, sub in _subcommands(parser):
        yield path + (name,), text, sub
        yield from _walk(sub, path + (name,))


def _anchor(path: tuple[str, ...]) -> str:
    return "-".join(path)


def render() -> str:
    parser = _parser()
    commands = list(_walk(parser))
    lines = ["| command | what it does |", "|---|---|"]
    for path, text, _ in commands:
        text = " ".join(text.split()).replace("|", "\\|")
        lines.append(f"| [`interpface {' '.join(path)}`](#{_anchor(path)}) | {text} |")
    lines += ["", "## interpface", "", "```text", _help(parser), "```", ""]
    for path, _, sub in commands:
        level = "#" * min(2 + len(path) - 1, 4)
        lines += [f"{level} interpface {' '.join(path)} {{#{_anchor(path)}}}", "", "```text", _help(sub), "```", ""]
    return "\n".join(lines)


def on_page_markdown(markdown: str, page, config, files, **kwargs) -> str:
    if page.file.src_uri != PAGE:
        return markdown
    if MARKER not in markdown:
        raise ValueError(f"{PAGE}: the marker {MARKER} is missing")
    return markdown.replace(MARKER, render())
