"""The score-table facade: a selection reads and hashes its pool once, and strategies reach models only
through it (no strategy imports the training, model-loading or judge packages, or transformers)."""

from __future__ import annotations

import ast
from pathlib import Path

import chasing_random.selection as selection_package
from chasing_random.scoring.tables import ScoreTables
from chasing_random.selection.base import SelectOptions, select
from chasing_random.store import ArtifactStore

FORBIDDEN = ("chasing_random.training", "chasing_random.models", "chasing_random.judges", "transformers", "torch")


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_no_strategy_imports_a_model_a_trainer_or_a_judge():
    folder = Path(selection_package.__file__).parent
    offending = {}
    for path in sorted(folder.glob("*.py")):
        allowed = {"chasing_random.judges.factory"} if path.name == "base.py" else set()  # the JudgeSpec type
        bad = sorted(n for n in _imports(path) - allowed if n.startswith(FORBIDDEN))
        if bad and not (path.name == "rds.py" and bad == ["torch"]):  # rds: torch.topk on its own arrays
            offending[path.name] = bad
    assert offending == {}


def _counting(monkeypatch, module, name, calls: list):
    original = getattr(module, name)

    def counted(path, *args, **kwargs):
        calls.append(Path(path).name)
        return original(path, *args, **kwargs)

    monkeypatch.setattr(module, name, counted)


def test_a_selection_reads_and_hashes_its_pool_once(tmp_path, tiny_lm, pool_from_rows, monkeypatch):
    import chasing_random.data.pool as data_pool
    import chasing_random.scoring.embeddings as embeddings
    import chasing_random.scoring.losses as losses
    import chasing_random.scoring.ratings as ratings
    import chasing_random.scoring.shards as shards
    import chasing_random.scoring.tables as tables
    import chasing_random.selection.base as base
    import chasing_random.selection.ifd as ifd

    rows = [{"instruction": f"Say the number {k} in words.", "input": "", "output": "word " * (k % 7 + 1)}
            for k in range(24)]
    pool = pool_from_rows(rows, "once")
    reads, hashes = [], []
    modules = (data_pool, embeddings, losses, ratings, shards, tables, base, ifd)
    for name, calls in (("read_pool", reads), ("file_fingerprint", hashes)):
        for module in modules:
            if hasattr(module, name):
                _counting(monkeypatch, module, name, calls)
    options = SelectOptions(model=tiny_lm, template="alpaca", ifd_max=100.0, diversity=True, embedder=tiny_lm)
    manifests = select(pool, "superfilter", [4, 8], tmp_path / "out", options, seeds=[0, 1],
                       store=ArtifactStore(tmp_path / "store"))
    assert len(manifests) == 2 and manifests[0]["subsets"]["8"]["rows"] == 8
    # one loss table and one embedding table for two seeds, the manifests' fingerprints: one read, one hash
    assert reads == ["once.parquet"] and hashes == ["once.parquet"]
    assert manifests[0]["inputs"]["pool_sha256_16"] == manifests[1]["inputs"]["pool_sha256_16"]


def test_token_lengths_match_the_tokenizer_and_characters_need_none(tmp_path, tiny_lm, pool_from_rows):
    from transformers import AutoTokenizer

    rows = [{"instruction": "Name a colour.", "input": "", "output": "Blue, like the sky at noon."},
            {"instruction": "Count to three, please.", "input": "", "output": "One two three."}]
    tables = ScoreTables(pool_from_rows(rows, "lengths"), ArtifactStore(tmp_path))
    tokenizer = AutoTokenizer.from_pretrained(tiny_lm)
    inputs, targets = tables.column("input"), tables.column("target")
    expected = [len(tokenizer(i, add_special_tokens=False)["input_ids"])
                + len(tokenizer(t, add_special_tokens=False)["input_ids"]) for i, t in zip(inputs, targets)]
    assert tables.lengths(["input", "target"], tiny_lm).tolist() == expected
    assert tables.lengths(["target"]).tolist() == [len(t) for t in targets]
