"""``accelerate launch -m chasing_random.training --subset ... --model ... --out ...``: multi-device SFT.

Takes exactly the flags of ``chase train``; accelerate starts one process per device and the
trainer splits batches across them (per-device batch x accumulation x devices = effective batch).
"""

from __future__ import annotations

import sys

import typer

from chasing_random.errors import ChaseError
from chasing_random.training.command import train
from chasing_random.ui import console


def main() -> None:
    """Run the ``chase train`` command as a module so ``accelerate launch -m`` can start it."""
    runner = typer.Typer(pretty_exceptions_enable=False, add_completion=False)
    runner.command()(train)
    try:
        runner(prog_name="python -m chasing_random.training")
    except ChaseError as exc:
        console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
