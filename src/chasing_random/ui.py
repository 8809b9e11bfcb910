"""Console output shared by the CLI and long-running stages: one stderr console, progress bars,
machine-readable JSON on stdout."""

from __future__ import annotations

import contextlib
import json
import os
from typing import Callable, Iterator

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

console = Console(stderr=True)


def echo_json(obj) -> None:
    """Print a JSON object to stdout (machine-readable results go to stdout, progress to stderr)."""
    print(json.dumps(obj, indent=2, ensure_ascii=False, default=str), flush=True)


@contextlib.contextmanager
def progress_bar(description: str, total: int | None) -> Iterator[Callable[[int], None]]:
    """A rich progress bar; yields ``advance(n)``. Quiet when CHASE_QUIET=1 (tests)."""
    if os.environ.get("CHASE_QUIET") == "1":
        yield lambda n=1: None
        return
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), TimeRemainingColumn(), console=console, transient=False) as progress:
        task = progress.add_task(description, total=total)
        yield lambda n=1: progress.advance(task, n)
