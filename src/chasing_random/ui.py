"""Console output shared by the CLI and long-running stages: one stderr console, progress bars,
machine-readable JSON on stdout.

The console never reads markup: user text (paths, names, reasons) such as ``[/bold]`` prints as
is. Colour comes from ``styled`` pieces instead. ``note_finished`` keeps a tally of finished work
that an interrupted command reports.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections import Counter
from typing import Callable, Iterator

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.text import Text

console = Console(stderr=True, markup=False)
FINISHED: Counter[str] = Counter()


def styled(text: str, style: str) -> Text:
    """A coloured piece of console output (the console itself reads no markup)."""
    return Text(text, style=style)


def note_finished(what: str, count: int = 1) -> None:
    """Count a finished, safely stored unit of work (a stage, a shard), for the interrupt message."""
    FINISHED[what] += count


def echo_json(obj) -> None:
    """Print a JSON object to stdout (machine-readable results go to stdout, progress to stderr)."""
    print(json.dumps(obj, indent=2, ensure_ascii=False, default=str), flush=True)


@contextlib.contextmanager
def progress_bar(description: str, total: int | None) -> Iterator[Callable[[int], None]]:
    """A rich progress bar; yields ``advance(n)``. Quiet when CHASE_QUIET=1 (tests)."""
    if os.environ.get("CHASE_QUIET") == "1":
        yield lambda n=1: None
        return
    with Progress(TextColumn("{task.description}", markup=False, style="bold"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), TimeRemainingColumn(), console=console, transient=False) as progress:
        task = progress.add_task(description, total=total)
        yield lambda n=1: progress.advance(task, n)
