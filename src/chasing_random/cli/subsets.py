"""``chase subsets``: import the study's released subsets, export subsets in other layouts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from chasing_random.cli import app
from chasing_random.data.study_subsets import EXPORT_FORMATS, STUDY_PATTERN, export_name, export_rows
from chasing_random.errors import ChaseError
from chasing_random.selection.overlap import subset_files
from chasing_random.selection.study import import_study_subsets
from chasing_random.store import atomic_path, jsonl_lines, note_input
from chasing_random.ui import console, styled

subsets_app = typer.Typer(help="Import the study's released subsets; export subsets for other tools.",
                          no_args_is_help=True)
app.add_typer(subsets_app, name="subsets")


def _pool_map(pools: list[str]) -> dict[str, str]:
    mapping = {}
    for item in pools:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            raise ChaseError(f"--pool expects NAME=POOL (the dataset prefix of the study's file names and a pool "
                             f"file), got '{item}'")
        mapping[name] = path
    return mapping


@subsets_app.command("import")
def import_command(
    folder: Path = typer.Argument(..., help=f"Folder of the study's files, named {STUDY_PATTERN}."),
    pool: list[str] = typer.Option(..., "--pool", help="DATASET=POOL: the pool the study's DATASET files select "
                                                       "from (repeatable)."),
    out: Path = typer.Option(..., "--out", help="Folder for the imported subsets (this project's layout)."),
) -> None:
    """Match the study's subsets to pools by content and write them as this project's subsets.

    Example: chase subsets import data/ --pool dolly=pools/dolly.parquet --pool alpaca=pools/alpaca.parquet --out sel/study/
    """
    manifest = import_study_subsets(folder, _pool_map(pool), out)
    table = Table(title=f"study subsets from {str(folder)}")
    for column in ("file", "rows", "matched", "by", "unmatched"):
        table.add_column(column)
    for row in manifest["files"]:
        table.add_row(Path(row["file"]).name, str(row["rows"]), str(row["matched"]),
                      ", ".join(f"{k} {v}" for k, v in row["matched_by"].items()), str(row["unmatched"]))
    console.print(table)
    console.print(f"matched {manifest['matched']} of {manifest['rows']} rows ({manifest['matched_share']:.1%}); "
                  f"unmatched rows with file and line: {str(out / manifest['unmatched_file'])}",
                  highlight=False)
    if manifest["skipped_datasets"]:
        console.print(styled("skipped:", "yellow"), f"no --pool for {', '.join(manifest['skipped_datasets'])}")


def _subset_rows(path: Path) -> list[dict]:
    note_input(path)
    rows = []
    for number, line in jsonl_lines(path):
        try:
            row = json.loads(line)
            rows.append({"id": row["id"], "input": row["input"], "target": row["target"]})
        except (json.JSONDecodeError, KeyError, TypeError):
            raise ChaseError(f"{path}:{number}: not a subset row (expected id, input, target)") from None
    return rows


@subsets_app.command("export")
def export_command(
    subsets: list[Path] = typer.Argument(..., help="Subset files or selection folders."),
    out: Path = typer.Option(..., "--out", help="Folder for the exported files."),
    format: str = typer.Option("study", "--format", help=f"Layout: {', '.join(EXPORT_FORMATS)} ({{input, target}} "
                                                         "JSONL; ShareGPT conversations; Alpaca instruction/output)."),
    dataset: Optional[str] = typer.Option(None, help="Dataset prefix of the exported names (default: the pool's)."),
    force: bool = typer.Option(False, help="Replace exported files that differ from what would be written."),
) -> None:
    """Write subsets in the study's layout (its file names too), or as ShareGPT or Alpaca JSON.

    Example: chase subsets export sel/dolly_longest_1000.jsonl --format sharegpt --out exported/
    """
    if format not in EXPORT_FORMATS:
        raise ChaseError(f"unknown --format '{format}'; valid: {', '.join(EXPORT_FORMATS)}")
    files = subset_files(list(subsets), minimum=1)
    for path in files:
        target = out / export_name(path, format, dataset)
        text = export_rows(_subset_rows(path), format)
        if target.exists() and not force and target.read_text(encoding="utf-8") != text:
            raise ChaseError(f"{target}: exists with other content; pass --force to replace it")
        with atomic_path(target) as tmp:
            tmp.write_text(text, encoding="utf-8")
        console.print(f"{path.name} -> {str(target)}", highlight=False)
