"""Score tables behind one door: ``ScoreTables`` reads and fingerprints a pool once and serves every
table a strategy ranks by (judge ratings, losses, embeddings, token lengths, seeded samples and
Cherry's pre-experienced model).

Strategies reach models only through this facade: they never load a tokenizer or model, build a
judge or train. Each table is still computed once per key in the artifact store (``scoring.shards``)
and reused across seeds, budgets and runs; the facade only saves re-reading and re-hashing the pool
for every table a selection asks for.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from chasing_random.data.pool import open_pool, pool_batches, pool_column, read_pool
from chasing_random.judges.factory import JudgeSpec
from chasing_random.scoring.embeddings import EmbeddingTable, embedding_table
from chasing_random.scoring.losses import instruction_loss_table, loss_table
from chasing_random.scoring.pre_experience import PreExperience, PreExperienceConfig, pre_experienced_model
from chasing_random.scoring.ratings import (
    RatingTable,
    alpagasus_ratings,
    askllm_scores,
    deita_scores,
    sample_ids,
)
from chasing_random.scoring.shards import PoolRead, TableRun
from chasing_random.store import ArtifactStore, atomic_path, file_fingerprint

SAMPLE_KIND = "score-sample"


class ScoreTables:
    """One pool's score tables. The pool is read (whole, or one column at a time for strategies that
    need only a column) and hashed at most once, then shared by every table built from it."""

    def __init__(self, pool_path: str | Path, store: ArtifactStore, pool: pd.DataFrame | None = None):
        self.pool_path = Path(pool_path)
        self.store = store
        self._pool = pool
        self._fingerprint: str | None = None

    # --- the pool, read once ---------------------------------------------------------------------
    @property
    def pool(self) -> pd.DataFrame:
        """The whole pool as a DataFrame, read on first use."""
        if self._pool is None:
            self._pool = read_pool(self.pool_path)
        return self._pool

    @property
    def fingerprint(self) -> str:
        """The hash of the pool file's bytes that keys its tables, computed on first use."""
        if self._fingerprint is None:
            self._fingerprint = file_fingerprint(self.pool_path)
        return self._fingerprint

    def _read(self) -> PoolRead:
        return PoolRead(self.pool_path, self.pool, self.fingerprint)

    @property
    def num_rows(self) -> int:
        return len(self._pool) if self._pool is not None else open_pool(self.pool_path).metadata.num_rows

    def column(self, name: str) -> list:
        """One pool column as a list, without reading the others."""
        return list(self._pool[name]) if self._pool is not None else pool_column(self.pool_path, name)

    def column_chunks(self, name: str) -> Iterator[list]:
        """One pool column in consecutive chunks of rows."""
        if self._pool is not None:
            yield list(self._pool[name])
            return
        for table in pool_batches(self.pool_path, [name]):
            yield table.column(name).to_pylist()

    # --- seeded samples --------------------------------------------------------------------------
    def sample_ids(self, limit: int | None, seed: int) -> list[str] | None:
        """A seeded sample of ``limit`` ids in pool order (``--score-limit``), or None = every row."""
        return sample_ids(self.column("id"), limit, seed)

    def sampled(self, limit: int | None, seed: int) -> tuple["ScoreTables", list[str]]:
        """The tables of a seeded sample of ``limit`` rows (a pool file written once to the store) and the ids
        left unscored; this pool itself and no ids when there is no limit."""
        ids = self.sample_ids(limit, seed)
        if ids is None:
            return self, []
        key = self.store.key(SAMPLE_KIND, self.fingerprint, limit, seed)
        path = self.store.path(SAMPLE_KIND, key, self.pool_path.name)
        pool = self.pool
        if not path.exists():
            with atomic_path(path) as tmp:
                pq.write_table(pa.Table.from_pandas(pool[pool["id"].isin(set(ids))], preserve_index=False), tmp)
        return ScoreTables(path, self.store), self.unscored(ids)

    def unscored(self, ids: Sequence[str]) -> list[str]:
        """The pool's ids outside a scored sample, sorted (what a strategy excludes as not scored)."""
        return sorted(set(self.column("id")) - set(ids))

    # --- model-scored tables ---------------------------------------------------------------------
    def lengths(self, columns: Sequence[str], tokenizer: str | None = None,
                trust_remote_code: bool = False) -> np.ndarray:
        """Per row, the characters (no ``tokenizer``) or the tokenizer's tokens (no special tokens) summed over
        ``columns``; read column by column, chunk by chunk."""
        encode = None
        if tokenizer is not None:
            from chasing_random.models.loading import load_tokenizer

            loaded = load_tokenizer(tokenizer, trust_remote_code=trust_remote_code)
            encode = lambda texts: loaded(texts, add_special_tokens=False)["input_ids"]  # noqa: E731
        total = np.zeros(self.num_rows, dtype=np.int64)
        for name in columns:
            lengths: list[int] = []
            for texts in self.column_chunks(name):
                lengths.extend(len(t) for t in (texts if encode is None else encode(texts)))
            total += np.array(lengths, dtype=np.int64)
        return total

    def losses(self, model: str, template: str | None, max_length: int, *, batch_size: int = 8,
               dtype: str = "float32", trust_remote_code: bool = False, reference: str | None = None,
               direct_prefix: str | None = None) -> TableRun:
        """The IFD loss table (``scoring.losses.loss_table``)."""
        return loss_table(self.pool_path, model, template, max_length, store=self.store, batch_size=batch_size,
                          dtype=dtype, trust_remote_code=trust_remote_code, reference=reference,
                          direct_prefix=direct_prefix, pool_read=self._read())

    def instruction_losses(self, model: str, max_length: int, *, batch_size: int = 8, dtype: str = "float32",
                           trust_remote_code: bool = False) -> TableRun:
        """Each instruction's loss and perplexity (``scoring.losses.instruction_loss_table``)."""
        return instruction_loss_table(self.pool_path, model, max_length, store=self.store, batch_size=batch_size,
                                      dtype=dtype, trust_remote_code=trust_remote_code, pool_read=self._read())

    def embeddings(self, model: str, *, pooling: str = "mean", field: str = "input", batch_size: int = 32,
                   max_length: int = 512, dtype: str = "float32", trust_remote_code: bool = False) -> EmbeddingTable:
        """The embedding table of one model, pooling and field (``scoring.embeddings.embedding_table``)."""
        return embedding_table(self.pool_path, model, pooling=pooling, field=field, store=self.store,
                               batch_size=batch_size, max_length=max_length, dtype=dtype,
                               trust_remote_code=trust_remote_code, pool_read=self._read())

    # --- judge tables: the judge is built here from its spec ------------------------------------
    def alpagasus(self, judge: JudgeSpec, *, prompt: str, parse: str, mode: str, ids: list[str] | None,
                  retry_failed: bool = True) -> RatingTable:
        """AlpaGasus 0-5 ratings by the judge of ``judge`` (``scoring.ratings.alpagasus_ratings``)."""
        return alpagasus_ratings(self.pool_path, judge.build(), prompt=prompt, parse=parse, mode=mode, ids=ids,
                                 store=self.store, retry_failed=retry_failed, pool_read=self._read())

    def deita(self, judge: JudgeSpec, kind: str, *, ids: list[str] | None, retry_failed: bool = True) -> RatingTable:
        """DEITA complexity or quality scores by the scorer of ``judge`` (``scoring.ratings.deita_scores``)."""
        return deita_scores(self.pool_path, judge.build(), kind, ids=ids, store=self.store, retry_failed=retry_failed,
                            pool_read=self._read())

    def askllm(self, judge: JudgeSpec, *, ids: list[str] | None, retry_failed: bool = False) -> RatingTable:
        """Ask-LLM log P(yes) by the judge of ``judge`` (``scoring.ratings.askllm_scores``)."""
        return askllm_scores(self.pool_path, judge.build(), ids=ids, store=self.store, retry_failed=retry_failed,
                             pool_read=self._read())

    # --- Cherry's pre-experienced model ------------------------------------------------------------
    def pre_experienced(self, base: str, max_length: int, config: PreExperienceConfig) -> PreExperience:
        """Cherry's base model fine-tuned on its pre-experience sample (``scoring.pre_experience``): the
        sample is drawn from the base model's mean-pooled instruction embeddings and instruction losses."""
        embedded = self.embeddings(base, pooling="mean", field="input", batch_size=config.batch_size,
                                   max_length=max_length, dtype=config.dtype,
                                   trust_remote_code=config.trust_remote_code)
        losses = self.instruction_losses(base, max_length, batch_size=config.batch_size, dtype=config.dtype,
                                         trust_remote_code=config.trust_remote_code)
        return pre_experienced_model(self._read(), self.store, base, max_length, config, embedded, losses)
