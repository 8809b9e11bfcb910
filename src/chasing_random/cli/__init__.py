"""The ``chase`` command: thin typer commands that call the library; no logic lives here.

Every command module adds its commands to ``app``; ``main`` turns a ``ChaseError`` into one
red line on stderr and exit code 2.
"""

from __future__ import annotations

import sys

import typer

from chasing_random.errors import ChaseError
from chasing_random.ui import console

app = typer.Typer(
    name="chase",
    help="Choose which examples to fine-tune on, and find out honestly whether the choice beats random.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

# Command modules register themselves on `app` when imported.
from chasing_random.cli import pool  # noqa: E402,F401
from chasing_random.cli import report  # noqa: E402,F401
from chasing_random.cli import evaluate  # noqa: E402,F401
from chasing_random.cli import select  # noqa: E402,F401
from chasing_random.cli import run  # noqa: E402,F401
from chasing_random.cli import demo  # noqa: E402,F401
from chasing_random.cli import score  # noqa: E402,F401
from chasing_random.cli import score_judge  # noqa: E402,F401
from chasing_random.cli import synth  # noqa: E402,F401
from chasing_random.cli import train  # noqa: E402,F401
from chasing_random.cli import generate  # noqa: E402,F401
from chasing_random.cli import subsets  # noqa: E402,F401


def main(argv: list[str] | None = None) -> None:
    """Entry point of the console script ``chase``."""
    try:
        app(args=argv, prog_name="chase")
    except ChaseError as exc:
        console.print(f"[bold red]error:[/] {exc}", highlight=False, markup=True, soft_wrap=True)
        sys.exit(2)
