"""Console output shared by the CLI and long-running stages: one stderr console, progress bars,
machine-readable JSON on stdout."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
from pathlib import Path
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


THIRD_PARTY_LOGGERS = ("py.warnings", "transformers", "datasets", "huggingface_hub", "accelerate", "peft", "trl",
                       "sentence_transformers", "lm_eval", "torch")
QUIET_ENV = {"HF_HUB_DISABLE_PROGRESS_BARS": "1", "HF_DATASETS_DISABLE_PROGRESS_BARS": "1"}


@contextlib.contextmanager
def third_party_to_log(log_file: Path, verbose: bool = False) -> Iterator[None]:
    """Send third-party warnings (FutureWarning, ...) and library log lines to ``log_file`` and switch off
    the libraries' own progress bars ("Loading weights"), so a run shows the project's messages only.
    ``verbose`` leaves everything on the console."""
    if verbose:
        yield
        return
    log_file.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(log_file, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s: %(message)s"))
    saved_env = {key: os.environ.get(key) for key in QUIET_ENV}
    os.environ.update(QUIET_ENV)
    saved = {}
    for name in THIRD_PARTY_LOGGERS:
        logger = logging.getLogger(name)
        saved[name] = (logger.handlers[:], logger.propagate)
        logger.handlers, logger.propagate = [handler], False
    logging.captureWarnings(True)
    bars = sys.modules.get("transformers.utils.logging")
    bars_were_on = bars is not None and bars.is_progress_bar_enabled()
    if bars_were_on:
        bars.disable_progress_bar()
    try:
        yield
    finally:
        logging.captureWarnings(False)
        for name, (handlers, propagate) in saved.items():
            logger = logging.getLogger(name)
            logger.handlers, logger.propagate = handlers, propagate
        handler.close()
        for key, value in saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        bars = sys.modules.get("transformers.utils.logging")
        if bars is not None and (bars_were_on or saved_env["HF_HUB_DISABLE_PROGRESS_BARS"] is None):
            bars.enable_progress_bar()
