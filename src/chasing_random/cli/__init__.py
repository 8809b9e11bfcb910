"""The ``chase`` command: thin typer commands that call the library; no logic lives here.

Every command module adds its commands to ``app``; ``main`` turns a ``ChaseError`` into one
red line on stderr and exit code 2, an interrupt (Ctrl-C) into what was finished and how to resume
(exit code 130), and shows tracebacks only with ``--debug`` or ``CHASE_DEBUG=1``.
"""

from __future__ import annotations

import os
import shlex
import sys

import typer

from chasing_random.errors import ChaseError
from chasing_random.store import command_inputs, redact_text
from chasing_random.ui import FINISHED, console, styled

app = typer.Typer(
    name="chase",
    help="Choose which examples to fine-tune on, and find out honestly whether the choice beats random.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    epilog="Add --debug (or set CHASE_DEBUG=1) to any command to see the traceback of an error.",
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


def _interrupted(exc: BaseException) -> bool:
    """True when an exit came from Ctrl-C (typer turns KeyboardInterrupt into exit code 130)."""
    while exc is not None:
        if isinstance(exc, KeyboardInterrupt):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def _resume_hint(argv: list[str]) -> None:
    done = ", ".join(f"{count} {what}{'s' if count != 1 else ''}" for what, count in FINISHED.items())
    console.print(styled("interrupted:", "bold yellow"),
                  f"finished before the interrupt: {done or 'nothing yet'} (kept; files are written whole or not "
                  f"at all); run the same command again to resume: chase {shlex.join(argv)}", soft_wrap=True)


def main(argv: list[str] | None = None) -> None:
    """Entry point of the console script ``chase``."""
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv or os.environ.get("CHASE_DEBUG") == "1"
    argv = [a for a in argv if a != "--debug"]
    FINISHED.clear()
    try:
        with command_inputs():
            app(args=argv, prog_name="chase")
    except ChaseError as exc:
        if debug:
            raise
        console.print(styled("error:", "bold red"), redact_text(str(exc)), highlight=False, soft_wrap=True)
        sys.exit(2)
    except SystemExit as exc:
        if exc.code == 130 and _interrupted(exc):
            _resume_hint(argv)
        raise
    except KeyboardInterrupt:
        _resume_hint(argv)
        sys.exit(130)
    except Exception as exc:  # a bug: one line unless --debug asks for the traceback
        if debug:
            raise
        console.print(styled("internal error:", "bold red"), f"{type(exc).__name__}: {redact_text(str(exc))[:300]} "
                      "(a bug; rerun with --debug or CHASE_DEBUG=1 for the traceback and report it)",
                      highlight=False, soft_wrap=True)
        sys.exit(1)
