"""The loss engine behind IFD: per row, the mean response cross-entropy with and without the prompt.

Semantics (see docs/scoring.md): prompt ids = tokenizer(template prompt, special tokens on),
response ids = tokenizer(target, special tokens off); the conditioned sequence is prompt + response
cut at L tokens; the direct sequence is tokenizer(direct prefix) (or BOS, else EOS, when that is
empty) + the same kept response ids. Both passes score exactly the kept response tokens.

Speed without changing the numbers: every sequence of a shard (both passes) is sorted by length
and batched with right padding (so no attention mask is needed under causal attention), a
sequence's last token is not fed (it predicts nothing), the transformer body runs once per batch
without a KV cache, and the vocabulary projection is applied only at the positions that predict a
response token, chunk by chunk into one reused buffer with the log-sum-exp taken in place.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from chasing_random.data.templates import get_template
from chasing_random.errors import ChaseError
from chasing_random.models.loading import LazyCausalLM
from chasing_random.models.precision import Precision, resolve_precision
from chasing_random.scoring.shards import (
    DEFAULT_SHARD_ROWS,
    PoolRead,
    TableRun,
    model_fingerprint,
    pick_device,
    run_sharded,
)
from chasing_random.store import (
    ArtifactStore,
    atomic_path,
    file_fingerprint,
    write_manifest,
)

CODE_VERSION = "losses-1"
KIND = "losses"
HEAD_BUFFER_BYTES = 256 * 2**20  # float32 vocabulary logits held at once (bounds memory)
# Models whose logits are not simply lm_head(last hidden state): score them with a full forward.
LOGIT_TRANSFORMS = ("final_logit_softcapping", "logit_scale", "logits_scaling", "output_multiplier_scale")
DTYPES = ("float32", "bfloat16", "auto")
LOSS_SCHEMA = pa.schema([("id", pa.string()), ("loss_cond", pa.float64()), ("loss_direct", pa.float64()),
                         ("n_response_tokens", pa.int64()), ("truncated", pa.bool_())])
# A --reference table adds the direct pass's scored-token count and why the authors' code leaves a row out.
REFERENCE_SCHEMA = LOSS_SCHEMA.append(pa.field("n_direct_tokens", pa.int64())).append(pa.field("excluded", pa.string()))


@dataclass(frozen=True)
class Scored:
    """One sequence to score: token ids whose positions ``start .. start+count-1`` are scored."""

    ids: list[int]
    start: int
    count: int


def fallback_prefix(tokenizer) -> list[int]:
    """The one token an empty prefix becomes: BOS, or EOS when the tokenizer has no BOS."""
    token = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id
    if token is None:
        raise ChaseError("the tokenizer has neither a BOS nor an EOS token, so an empty prefix cannot be scored")
    return [token]


def direct_prefix_ids(tokenizer, text: str | None, template_prefix: str) -> list[int]:
    """The direct pass's prefix tokens: ``text`` when given (``--direct-prefix``, e.g. ``<|endoftext|>``),
    else the template's direct prefix, else BOS (EOS without one)."""
    if text is not None:
        ids = tokenizer(text, add_special_tokens=True)["input_ids"]
        if not ids:
            raise ChaseError(f"--direct-prefix {text!r} is no token for this tokenizer")
        return ids
    return tokenizer(template_prefix, add_special_tokens=True)["input_ids"] or fallback_prefix(tokenizer)


def build_sequences(inputs: list[str], targets: list[str], tokenizer, template_name: str,
                    max_length: int, direct_prefix: str | None = None) -> tuple[list[Scored], list[Scored], np.ndarray, np.ndarray]:
    """The conditioned and direct sequences of each row, its kept response length and truncation flag."""
    template = get_template(template_name)
    prompts = [template.prompt(text, tokenizer) for text in inputs]
    prompt_ids = tokenizer(prompts, add_special_tokens=True)["input_ids"]
    response_ids = tokenizer(list(targets), add_special_tokens=False)["input_ids"]
    direct_prefix = direct_prefix_ids(tokenizer, direct_prefix, template.direct_prefix)
    cond, direct, kept, truncated = [], [], [], []
    for prompt, response in zip(prompt_ids, response_ids):
        prompt = prompt or fallback_prefix(tokenizer)
        keep = max(0, min(len(response), max_length - len(prompt)))
        cond.append(Scored((prompt + response[:keep])[:max_length], len(prompt), keep))
        direct.append(Scored(direct_prefix + response[:keep], len(direct_prefix), keep))
        kept.append(keep)
        truncated.append(keep < len(response))
    return cond, direct, np.array(kept, dtype=np.int64), np.array(truncated, dtype=bool)


def _split_model(model):
    """(body, head) for the fast path, or None when logits need the model's own forward."""
    base = getattr(model, "base_model", model)
    head = model.get_output_embeddings()
    if base is model or head is None or any(getattr(model.config, name, None) for name in LOGIT_TRANSFORMS):
        return None
    return base, head


class ResponseHead:
    """Cross-entropy of chosen positions: vocabulary logits chunk by chunk, log-sum-exp in place.

    A float32 ``nn.Linear`` head writes every chunk into one reused buffer (a fresh 100+ MB tensor per
    chunk costs page faults comparable to the projection itself); other heads fall back to ``head(x)``.
    """

    def __init__(self, head):
        import torch

        weight = getattr(head, "weight", None)
        self.head = head
        self.fast = isinstance(head, torch.nn.Linear) and weight.dtype == torch.float32
        vocab = getattr(head, "out_features", None)
        self.rows = max(16, HEAD_BUFFER_BYTES // (4 * vocab)) if vocab else 1024
        self.buffer = torch.empty(self.rows, vocab, device=weight.device) if self.fast else None

    def logits(self, hidden):
        """float32 logits of a chunk of at most ``self.rows`` hidden states (a view of the buffer on the fast path)."""
        import torch

        if not self.fast:
            return self.head(hidden).float()
        out = self.buffer[:len(hidden)]
        torch.mm(hidden, self.head.weight.t(), out=out)
        if self.head.bias is not None:
            out.add_(self.head.bias)
        return out

    def losses(self, hidden, labels):
        """Next-token cross-entropy (nats, float32) of each hidden state against its label."""
        import torch

        out = torch.empty(len(labels), dtype=torch.float32, device=labels.device)
        for first in range(0, len(labels), self.rows):
            out[first:first + self.rows] = logsumexp_losses(self.logits(hidden[first:first + self.rows]),
                                                            labels[first:first + self.rows])
        return out


def logsumexp_losses(logits, labels):
    """Cross-entropy from float32 logits, overwriting them: logsumexp(row) - row[label]."""
    target = logits.gather(1, labels[:, None])[:, 0]
    peak = logits.amax(1, keepdim=True)
    total = logits.sub_(peak).exp_().sum(1)
    return peak[:, 0] + total.log_() - target


def sequence_losses(model, sequences: list[Scored], *, batch_size: int, pad_id: int) -> np.ndarray:
    """Mean next-token cross-entropy (nats) over each sequence's scored tokens; NaN when it has none.

    Only what a scored token needs is computed: a sequence's last token predicts nothing and is not fed;
    sequences are sorted by length and right-padded per batch; results do not depend on the batch size.
    """
    import torch

    losses = np.full(len(sequences), np.nan)
    fed = [s.start + s.count - 1 for s in sequences]  # tokens fed to the model: all but the last scored one
    todo = [i for i, s in enumerate(sequences) if s.count > 0]
    todo.sort(key=lambda i: (-fed[i], i))
    split = _split_model(model)
    head = ResponseHead(split[1]) if split else None
    device = next(model.parameters()).device
    with torch.inference_mode():
        for first in range(0, len(todo), batch_size):
            batch = todo[first:first + batch_size]
            input_ids = torch.full((len(batch), fed[batch[0]]), pad_id, dtype=torch.long)
            rows, positions, labels = [], [], []
            for row, index in enumerate(batch):
                seq = sequences[index]
                input_ids[row, :fed[index]] = torch.tensor(seq.ids[:fed[index]])
                rows.append(np.full(seq.count, row))
                positions.append(np.arange(seq.start - 1, fed[index]))
                labels.extend(seq.ids[seq.start:seq.start + seq.count])
            rows_t = torch.from_numpy(np.concatenate(rows))
            pos_t = torch.from_numpy(np.concatenate(positions))
            labels_t = torch.tensor(labels, device=device)
            input_ids = input_ids.to(device)
            # Right padding + causal attention: real tokens never see pads, so no mask is needed.
            if split is None:
                gathered = model(input_ids=input_ids, use_cache=False).logits[rows_t, pos_t].float()
                token_losses = logsumexp_losses(gathered, labels_t)
            else:
                hidden = split[0](input_ids=input_ids, use_cache=False).last_hidden_state[rows_t, pos_t]
                token_losses = head.losses(hidden, labels_t)
            sums = torch.zeros(len(batch), dtype=torch.float64).index_add_(0, rows_t, token_losses.double().cpu())
            counts = np.array([sequences[i].count for i in batch])
            losses[batch] = sums.numpy() / counts
    return losses


@dataclass(frozen=True)
class ModelPass:
    """What the two loss tables share: the pool (read once), the store, the device, the resolved precision
    and the model with its tokenizer (loaded on first use, in the worker that runs a shard)."""

    source: PoolRead
    store: ArtifactStore
    device: str
    precision: Precision
    model: str
    model_and_tokenizer: LazyCausalLM

    @classmethod
    def prepare(cls, pool_path: str | Path, model: str, *, store: ArtifactStore | None, dtype: str,
                device: str | None, trust_remote_code: bool, pool_read: PoolRead | None) -> "ModelPass":
        device = pick_device(device)
        precision = resolve_precision(dtype, device)
        lazy = LazyCausalLM(model, dtype=precision.dtype, device=device, trust_remote_code=trust_remote_code)
        return cls(PoolRead.of(Path(pool_path), pool_read), store or ArtifactStore.default(), device, precision,
                   model, lazy)

    def batch(self, rows: np.ndarray):
        """The model, its tokenizer and the pool rows of one shard."""
        lm, tokenizer = self.model_and_tokenizer()
        return lm, tokenizer, self.source.frame.iloc[rows]

    def run(self, kind: str, key: str, compute, *, lengths, config: dict, **options) -> TableRun:
        """The table, sharded and resumable in the store, its manifest naming the pool and model it came from."""
        return run_sharded(self.store, kind, key, len(self.source.frame), compute, device=self.device,
                           lengths=lengths, config=config, **options,
                           inputs={"pool": str(self.source.path), "pool_sha256_16": self.source.sha,
                                   "model": model_fingerprint(self.model)})


def text_lengths(*columns) -> np.ndarray:
    """Characters per row over the given text columns: the cheap length that shards are bucketed by."""
    return sum(np.fromiter((len(text) for text in column), dtype=np.int64, count=len(column)) for column in columns)


def loss_key(store: ArtifactStore, pool_path: Path, model: str, template: str | None, max_length: int, dtype: str,
             reference: str | None = None, direct_prefix: str | None = None, *, pool_sha: str | None = None) -> str:
    """The store key of a loss table: pool bytes, model weights, template, L, dtype, code version and the
    reference mode and direct prefix (only when set, so the default tables keep their keys). ``pool_sha``: the
    pool's fingerprint when the caller has it already."""
    options = {k: v for k, v in (("reference", reference), ("direct_prefix", direct_prefix)) if v is not None}
    return store.key(KIND, pool_sha or file_fingerprint(pool_path), model_fingerprint(model), template, max_length,
                     dtype, *([options] if options else []), code_version=CODE_VERSION)


def reference_sequences(part, pool_path: Path, tokenizer, reference: str, max_length: int):
    """The authors' sequences of a shard (``scoring.reference``) and the extra columns of its table."""
    from chasing_random.scoring.reference import originals, reference_rows

    rows = reference_rows(reference, originals(part, pool_path), tokenizer, max_length)
    cond = [Scored(*r.cond) for r in rows]
    direct = [Scored(*r.direct) for r in rows]
    kept = np.array([s.count for s in cond], dtype=np.int64)
    truncated = np.array([r.truncated for r in rows], dtype=bool)
    extra = {"n_direct_tokens": np.array([s.count for s in direct], dtype=np.int64),
             "excluded": [r.excluded for r in rows]}
    return cond, direct, kept, truncated, extra


def loss_table(pool_path: str | Path, model: str, template: str | None, max_length: int, *,
               store: ArtifactStore | None = None, batch_size: int = 8, dtype: str = "float32",
               out: str | Path | None = None, device: str | None = None, trust_remote_code: bool = False,
               shard_rows: int = DEFAULT_SHARD_ROWS, on_shard=None, reference: str | None = None,
               direct_prefix: str | None = None, pool_read: PoolRead | None = None) -> TableRun:
    """The loss table of a pool (``id, loss_cond, loss_direct, n_response_tokens, truncated``).

    Cached in the store and resumable shard by shard; ``out`` also writes it (and a manifest) there.
    ``.cost`` is what this call spent (0 when cached); the manifest keeps what the table cost to make.
    ``reference`` (``scoring.reference.REFERENCES``) builds the authors' own texts instead of a template's
    (``template`` must then be None) and adds ``n_direct_tokens`` and ``excluded`` (a reason or null).
    ``direct_prefix`` replaces the template's direct-pass prefix (see docs/scoring.md on chat models).
    ``pool_read``: the pool already read and fingerprinted (``scoring.tables``), else read here.
    """
    if reference is not None and direct_prefix is not None:
        raise ChaseError("--direct-prefix and --reference exclude each other: a reference mode uses the authors' own")
    if reference is not None:
        from chasing_random.scoring.reference import check_reference

        check_reference(reference)
        if template is not None:
            raise ChaseError(f"--template {template} and --reference {reference} exclude each other: "
                             "a reference mode builds the authors' own texts")
    elif template is None:
        raise ChaseError("give --template (or --reference to reproduce an author's own IFD script)")
    else:
        get_template(template)
    if dtype not in DTYPES:
        raise ChaseError(f"unknown dtype '{dtype}'; valid: {', '.join(DTYPES)}")
    if max_length < 2:
        raise ChaseError(f"--max-length must be at least 2, got {max_length}")
    if batch_size < 1:
        raise ChaseError(f"--batch-size must be positive, got {batch_size}")
    run_on = ModelPass.prepare(pool_path, model, store=store, dtype=dtype, device=device,
                               trust_remote_code=trust_remote_code, pool_read=pool_read)
    pool_path, pool, precision = run_on.source.path, run_on.source.frame, run_on.precision

    def compute(rows: np.ndarray) -> pa.Table:
        lm, tokenizer, part = run_on.batch(rows)
        extra = {}
        if reference is None:
            cond, direct, kept, truncated = build_sequences(list(part["input"]), list(part["target"]), tokenizer,
                                                            template, max_length, direct_prefix)
        else:
            cond, direct, kept, truncated, extra = reference_sequences(part, pool_path, tokenizer, reference,
                                                                       max_length)
        losses = sequence_losses(lm, cond + direct, batch_size=batch_size, pad_id=tokenizer.pad_token_id)
        loss_cond, loss_direct = losses[:len(cond)], losses[len(cond):]
        scored = np.array([c.count > 0 and d.count > 0 for c, d in zip(cond, direct)], dtype=bool)
        bad = scored & ~(np.isfinite(loss_cond) & np.isfinite(loss_direct))
        if bad.any():
            raise ChaseError(f"{pool_path}: non-finite loss for row id {part['id'].iloc[int(np.argmax(bad))]} "
                             f"(model {model}, dtype {precision.dtype}); try --dtype float32")
        return pa.table({"id": list(part["id"]), "loss_cond": pa.array(loss_cond, from_pandas=True),
                         "loss_direct": pa.array(loss_direct, from_pandas=True), "n_response_tokens": kept,
                         "truncated": truncated, **extra}, schema=REFERENCE_SCHEMA if extra else LOSS_SCHEMA)

    key = loss_key(run_on.store, pool_path, model, template, max_length, precision.dtype, reference, direct_prefix,
                   pool_sha=run_on.source.sha)
    config = {"model": model, "template": template, "max_length": max_length, "dtype": precision.dtype,
              "precision": precision.as_dict(), "code_version": CODE_VERSION,
              **({"reference": reference} if reference else {}),
              **({"direct_prefix": direct_prefix} if direct_prefix is not None else {})}
    run = run_on.run(KIND, key, compute, shard_rows=shard_rows, on_shard=on_shard,
                     description=f"losses {pool_path.name}" + (f" ({reference})" if reference else ""),
                     lengths=text_lengths(pool["input"], pool["target"]), config=config)
    if out is not None:
        export_table(run, Path(out))
    return run


INSTRUCTION_KIND = "instruction_losses"
INSTRUCTION_SCHEMA = pa.schema([("id", pa.string()), ("loss", pa.float64()), ("n_tokens", pa.int64()),
                                ("perplexity", pa.float64())])


def instruction_loss_table(pool_path: str | Path, model: str, max_length: int, *,
                           store: ArtifactStore | None = None, batch_size: int = 8, dtype: str = "float32",
                           device: str | None = None, trust_remote_code: bool = False,
                           shard_rows: int = DEFAULT_SHARD_ROWS, pool_read: PoolRead | None = None) -> TableRun:
    """Each instruction's mean token loss and perplexity under a model (Cherry's pre-experience step).

    The sequence is BOS (EOS without one) + the input's tokens cut to L - 1, every input token scored.
    """
    run_on = ModelPass.prepare(pool_path, model, store=store, dtype=dtype, device=device,
                               trust_remote_code=trust_remote_code, pool_read=pool_read)
    pool_path, precision = run_on.source.path, run_on.precision

    def compute(rows: np.ndarray) -> pa.Table:
        lm, tokenizer, part = run_on.batch(rows)
        prefix = fallback_prefix(tokenizer)
        encoded = tokenizer(list(part["input"]), add_special_tokens=False)["input_ids"]
        sequences = [Scored(prefix + ids[:max_length - 1], 1, len(ids[:max_length - 1])) for ids in encoded]
        losses = sequence_losses(lm, sequences, batch_size=batch_size, pad_id=tokenizer.pad_token_id)
        counts = np.array([s.count for s in sequences], dtype=np.int64)
        bad = (counts > 0) & ~np.isfinite(losses)
        if bad.any():
            raise ChaseError(f"{pool_path}: non-finite instruction loss for row id {part['id'].iloc[int(np.argmax(bad))]}")
        return pa.table({"id": list(part["id"]), "loss": pa.array(losses, from_pandas=True), "n_tokens": counts,
                         "perplexity": pa.array(np.exp(losses), from_pandas=True)}, schema=INSTRUCTION_SCHEMA)

    key = run_on.store.key(INSTRUCTION_KIND, run_on.source.sha, model_fingerprint(model), max_length, precision.dtype,
                           code_version=CODE_VERSION)
    return run_on.run(INSTRUCTION_KIND, key, compute, shard_rows=shard_rows,
                      lengths=text_lengths(run_on.source.frame["input"]),
                      description=f"instruction perplexity {pool_path.name}",
                      config={"model": model, "max_length": max_length, "dtype": precision.dtype,
                              "precision": precision.as_dict(), "code_version": CODE_VERSION})


def export_table(run: TableRun, out: Path) -> None:
    """Copy a stored table to a user's path, with a manifest saying where it came from and its cost."""
    started = time.time()
    with atomic_path(out) as tmp:
        pq.write_table(run.table, tmp)
    write_manifest(out, kind=run.manifest["kind"], inputs={**run.manifest["inputs"], "store_table": str(run.path)},
                   config=run.manifest["config"], started=started,
                   extra={"rows": run.table.num_rows, "cost": run.manifest.get("cost")})


IFD_KINDS = ("cherry", "superfilter")


def ifd(frame, kind: str) -> np.ndarray:
    """IFD from a loss table: ``cherry`` = loss_cond / loss_direct, ``superfilter`` = exp(cond - direct)."""
    cond = frame["loss_cond"].to_numpy(dtype=float)
    direct = frame["loss_direct"].to_numpy(dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        if kind == "cherry":
            return cond / direct
        if kind == "superfilter":
            return np.exp(cond - direct)
    raise ChaseError(f"unknown IFD kind '{kind}'; valid: {', '.join(IFD_KINDS)}")


def mostly_above_one(values: np.ndarray) -> bool:
    """True when most finite IFD values exceed 1 (a sign the model does not know the template)."""
    finite = values[np.isfinite(values)]
    return bool(len(finite)) and float(np.mean(finite > 1)) > 0.5

