"""Embedding tables: one float32, L2-normalised vector per pool row, stored with its id.

A sentence-transformers model (alias ``minilm``, a folder with ``modules.json``, or a hub id that
loads as one) encodes text itself; any other name is a causal LM whose last hidden layer is pooled
(``mean`` over real tokens, ``weighted-mean`` with position t weighted by t as RDS+, or the
``last-token``). Cached in the store and resumable by shard.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa

from chasing_random.errors import ChaseError
from chasing_random.models.loading import LazyCausalLM
from chasing_random.models.precision import resolve_precision
from chasing_random.scoring.shards import (DEFAULT_SHARD_ROWS, PoolRead, TableRun, model_fingerprint, pick_device,
                                           run_sharded)
from chasing_random.store import ArtifactStore

CODE_VERSION = "embeddings-1"
KIND = "embeddings"
POOLINGS = ("mean", "last-token", "weighted-mean")
FIELDS = ("input", "target", "both")


@dataclass
class EmbeddingTable:
    """Row ids, their unit vectors (n x d float32) and the stored table behind them."""

    ids: list[str]
    vectors: np.ndarray
    run: TableRun


def texts_of(pool, field: str) -> list[str]:
    """The text embedded per row: the input, the target, or both separated by a blank line."""
    if field == "input":
        return list(pool["input"])
    if field == "target":
        return list(pool["target"])
    if field == "both":
        return [f"{i}\n\n{t}" for i, t in zip(pool["input"], pool["target"])]
    raise ChaseError(f"unknown --field '{field}'; valid: {', '.join(FIELDS)}")


def normalise(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (a zero row stays zero)."""
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return (vectors / np.where(norms == 0, 1, norms)).astype(np.float32)


def causal_lm_embeddings(model, tokenizer, texts: list[str], *, pooling: str, batch_size: int,
                         max_length: int) -> np.ndarray:
    """Pooled last-layer hidden states of a causal LM, length-sorted and right-padded per batch
    (``mean``, position-``weighted-mean`` or ``last-token``)."""
    import torch

    encoded = tokenizer(texts, add_special_tokens=True, truncation=True, max_length=max_length)["input_ids"]
    encoded = [ids or [tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id]
               for ids in encoded]
    order = sorted(range(len(encoded)), key=lambda i: (-len(encoded[i]), i))
    base = getattr(model, "base_model", model)
    device = next(model.parameters()).device
    out = np.zeros((len(texts), model.config.hidden_size), dtype=np.float32)
    with torch.inference_mode():
        for first in range(0, len(order), batch_size):
            batch = order[first:first + batch_size]
            lengths = torch.tensor([len(encoded[i]) for i in batch])
            ids = torch.full((len(batch), int(lengths.max())), tokenizer.pad_token_id, dtype=torch.long)
            for row, index in enumerate(batch):
                ids[row, :len(encoded[index])] = torch.tensor(encoded[index])
            # Right padding under causal attention: real tokens never attend to the pads after them.
            result = base(input_ids=ids.to(device), output_hidden_states=base is model)
            hidden = (result.last_hidden_state if base is not model else result.hidden_states[-1]).float().cpu()
            if pooling in ("mean", "weighted-mean"):
                positions = torch.arange(1, ids.shape[1] + 1, dtype=torch.float32)[None, :]
                weights = (positions <= lengths[:, None]).float()
                if pooling == "weighted-mean":  # RDS+: position t (1-based) weighs t over the real tokens
                    weights = weights * positions
                pooled = (hidden * weights.unsqueeze(-1)).sum(1) / weights.sum(1, keepdim=True)
            else:
                pooled = hidden[torch.arange(len(batch)), lengths - 1]
            out[batch] = pooled.numpy()
    return out


def embedding_table(pool_path: str | Path, model: str = "minilm", *, pooling: str = "mean", field: str = "input",
                    store: ArtifactStore | None = None, batch_size: int = 32, max_length: int = 512,
                    dtype: str = "float32", device: str | None = None, trust_remote_code: bool = False,
                    shard_rows: int = DEFAULT_SHARD_ROWS, on_shard=None,
                    pool_read: PoolRead | None = None) -> EmbeddingTable:
    """The embedding table of a pool for one model, pooling and field (cached, resumable); ``pool_read``: the
    pool already read and fingerprinted (``scoring.tables``), else read here."""
    from chasing_random.models.loading import is_sentence_transformer, resolve_model

    if pooling not in POOLINGS:
        raise ChaseError(f"unknown --pooling '{pooling}'; valid: {', '.join(POOLINGS)}")
    pool_path = Path(pool_path)
    source = PoolRead.of(pool_path, pool_read)
    pool = source.frame
    texts = texts_of(pool, field)
    store = store or ArtifactStore.default()
    device = pick_device(device)
    precision = resolve_precision(dtype, device)
    dtype = precision.dtype
    sentence = is_sentence_transformer(model) or (
        not Path(resolve_model(model)).exists() and "sentence-transformers/" in model)
    causal = LazyCausalLM(model, dtype=dtype, device=device, trust_remote_code=trust_remote_code)

    def compute(rows: np.ndarray) -> pa.Table:
        part = [texts[i] for i in rows]
        if sentence:
            from chasing_random.models.loading import load_embedder

            vectors = load_embedder(model, trust_remote_code=trust_remote_code, device=device).encode(
                part, batch_size=batch_size, convert_to_numpy=True, normalize_embeddings=False,
                show_progress_bar=False)
        else:
            lm, tokenizer = causal()
            vectors = causal_lm_embeddings(lm, tokenizer, part, pooling=pooling, batch_size=batch_size,
                                           max_length=max_length)
        vectors = normalise(np.asarray(vectors, dtype=np.float32))
        return pa.table({"id": list(pool["id"].iloc[rows]),
                         "embedding": pa.FixedSizeListArray.from_arrays(pa.array(vectors.ravel()), vectors.shape[1])})

    used_pooling = "sentence-transformers" if sentence else pooling
    key = store.key(KIND, source.sha, model_fingerprint(model), used_pooling, field,
                    None if sentence else max_length, None if sentence else dtype, code_version=CODE_VERSION)
    run = run_sharded(store, KIND, key, len(pool), compute, shard_rows=shard_rows, device=device,
                      description=f"embed {pool_path.name}", on_shard=on_shard, work="embedding",
                      lengths=[len(text) for text in texts],
                      inputs={"pool": str(pool_path), "pool_sha256_16": source.sha,
                              "model": model_fingerprint(model)},
                      config={"pooling": used_pooling, "field": field, "max_length": max_length, "dtype": dtype,
                              "precision": None if sentence else precision.as_dict(), "code_version": CODE_VERSION})
    column = run.table.column("embedding").combine_chunks()
    vectors = column.flatten().to_numpy(zero_copy_only=False).reshape(len(column), column.type.list_size)
    return EmbeddingTable(run.table.column("id").to_pylist(), vectors.astype(np.float32), run)
