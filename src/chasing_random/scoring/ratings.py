"""Judge score tables: AlpaGasus ratings (0-5) and DEITA complexity / quality scores (1-6).

A table is computed once per (pool, judge, prompt, rating mode, parser, rows, code version) in the
artifact store, sharded and resumable, and reused across thresholds and budgets. Judge replies
also go through the judge's persistent response cache, so a resumed or widened run (a larger
``--score-limit``) pays only for rows never judged. Every row is either scored or a failure with
its raw reply; nothing gets a default score.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pandas as pd
import pyarrow as pa

from chasing_random.data.pool import subsample_indices
from chasing_random.errors import ChaseError
from chasing_random.judges.base import Judge, JudgeReply
from chasing_random.judges.parse import get_parser
from chasing_random.results import Spend, api_spend
from chasing_random.scoring.shards import PoolRead, TableRun, forget_shards, model_fingerprint, run_sharded
from chasing_random.store import ArtifactStore, fingerprint
from chasing_random.ui import console

CODE_VERSION = "ratings-1"
JUDGE_SHARD_ROWS = 256
RAW_LIMIT = 2000

ALPAGASUS_SYSTEM = ("We would like to request your feedback on the performance of AI assistant in response to the "
                    "instruction and the given input displayed following. \n\n")
ALPAGASUS_PROMPTS = {
    # The study's text (METHODS.md), spacing included.
    "study": (ALPAGASUS_SYSTEM,
              "Instruction: {input} \n Response: {target}\n"
              "Please rate the given instruction and response tuple according to the accuracy of the response. "
              "Each response receives a score on a scale of 0 to 5, where a higher score indicates higher level of "
              "the accuracy. Please first output a single line containing the value indicating the scores. In the "
              "subsequent line, please provide a comprehensive explanation of your evaluation, avoiding any "
              "potential bias."),
    # AlpaGasus (Chen et al. 2024, Fig. 3); pools keep instruction and context as one ``input``.
    "original": ("We would like to request your feedback on the performance of AI assistant in response to the "
                 "instruction and the given input displayed following.",
                 "Instruction: {input}\nResponse: {target}\n\n"
                 "Please rate according to the accuracy of the response to the instruction and the input. Each "
                 "assistant receives a score on a scale of 0 to 5, where a higher score indicates higher level of "
                 "the accuracy. Please first output a single line containing value indicating the scores. In the "
                 "subsequent line, please provide a comprehensive explanation of your evaluation, avoiding any "
                 "potential bias."),
}
ALPAGASUS_SETTINGS = {  # threshold, max_tokens and temperature of each prompt's run
    "study": {"threshold": 4.0, "max_tokens": 3, "temperature": None},
    "original": {"threshold": 4.5, "max_tokens": 3, "temperature": 0.0},
}
ALPAGASUS_CHOICES = [str(k) for k in range(6)]
RATING_MODES = ("forward", "generate")

DEITA_PROMPTS = {
    "complexity": ("You are a helpful assistant. Please identify the complexity score of the following user query. "
                   "\n##Query: {input}  \n##Complexity: "),
    "quality": ("You are a helpful assistant. Please identify the quality score of the Response corresponding to the "
                "Question. \n #Question#:\n{input}\n#Response#:\n{target} \n##Quality: "),
}
DEITA_CHOICES = [str(k) for k in range(1, 7)]
TABLE_SCHEMA = pa.schema([("id", pa.string()), ("score", pa.float64()), ("argmax", pa.string()),
                          ("failure", pa.string()), ("raw", pa.string()), ("prompt_tokens", pa.int64()),
                          ("completion_tokens", pa.int64()), ("price", pa.float64()), ("seconds", pa.float64()),
                          ("cached", pa.bool_())])


@dataclass
class RatingTable:
    """Per-row scores (NaN for failures) with argmax, failure reason, raw reply and cost columns, and the
    judge that made them."""

    frame: pd.DataFrame
    run: TableRun
    judge: Judge

    @property
    def failures(self) -> pd.DataFrame:
        return self.frame[self.frame["failure"].notna()]

    def failure_rate(self) -> float:
        return len(self.failures) / max(1, len(self.frame))

    def cost(self) -> Spend:
        """What the table cost: device hours for a local judge; for an API judge the input and output
        tokens, under the judge's model name (the key the report prices)."""
        f = self.frame
        device = self.run.cost.get("device", "cpu")
        if self.judge.is_api:
            return api_spend(self.judge.model, int(f["prompt_tokens"].sum()), int(f["completion_tokens"].sum()), device)
        return Spend(device=device, device_hours=float(self.run.manifest.get("cost", {}).get("device_hours", 0.0)))

    def api_price_usd(self) -> float:
        """Dollars at the judge's own ``price_per_million_*`` options (0 unless set)."""
        return float(self.frame["price"].sum())


def expected_choice(probs: dict[str, float]) -> tuple[float, str]:
    """The expected value of numeric one-token answers and the most probable one."""
    return float(sum(int(c) * p for c, p in probs.items())), max(probs, key=probs.get)


def judge_identity(judge: Judge) -> dict:
    """What identifies a judge's replies: its description, plus a weight fingerprint when local."""
    describe = judge.describe()
    if describe.get("backend") == "local":
        describe = {**describe, "model": model_fingerprint(describe["model"])}
    return describe


def _row(row_id: str, reply: JudgeReply, score: float | None, argmax: str | None, failure: str | None,
         raw: str | None) -> dict:
    return {"id": row_id, "score": math.nan if score is None else float(score), "argmax": argmax,
            "failure": failure, "raw": None if raw is None else raw[:RAW_LIMIT],
            "prompt_tokens": reply.prompt_tokens, "completion_tokens": reply.completion_tokens,
            "price": reply.price, "seconds": reply.seconds, "cached": reply.cached}


def _judge_table(kind: str, pool_path: Path, judge: Judge, ids: list[str] | None, config: dict,
                 rate: Callable[[pd.DataFrame], list[dict]], store: ArtifactStore,
                 retry_failed: bool = True, pool_read: PoolRead | None = None) -> RatingTable:
    """Run ``rate`` over the rows (all, or ``ids`` in pool order) shard by shard, cached in the store.

    A stored failure records what happened, it is not a verdict: by default (``retry_failed``) the
    shards of a stored table that hold failed rows are recomputed; answered rows come back from the
    judge's response cache and only the failed calls are made again.
    """
    source = PoolRead.of(pool_path, pool_read)
    pool = source.frame
    if ids is not None:
        wanted = set(ids)
        pool = pool[pool["id"].isin(wanted)].reset_index(drop=True)
    identity = judge_identity(judge)
    key = store.key(kind, source.sha, identity, config,
                    None if ids is None else fingerprint(sorted(ids)), code_version=CODE_VERSION)

    def compute(rows) -> pa.Table:
        return pa.Table.from_pylist(rate(pool.iloc[rows]), schema=TABLE_SCHEMA)

    # A local judge's shards are length-bucketed like any model's; an API judge's stay in pool order.
    local = identity.get("backend") == "local"
    failed_rows = []

    def has_failures(shard: pa.Table) -> bool:
        failed = shard.num_rows - shard["failure"].null_count
        failed_rows.append(failed)
        return bool(failed) and retry_failed

    dropped = forget_shards(store, kind, key, JUDGE_SHARD_ROWS, has_failures, by_length=local)
    if dropped:
        console.print(f"{kind}: retrying {sum(failed_rows)} stored failed row(s) in {dropped} shard(s) (answered "
                      "rows come from the response cache; --no-retry-failed keeps stored failures)")
    elif sum(failed_rows):
        console.print(f"{kind}: keeping {sum(failed_rows)} stored failed row(s) (--no-retry-failed); run again "
                      "without it to ask the judge again")

    run = run_sharded(store, kind, key, len(pool), compute, shard_rows=JUDGE_SHARD_ROWS,
                      description=f"{kind} {Path(pool_path).name}", work="judging",
                      lengths=[len(a) + len(b) for a, b in zip(pool["input"], pool["target"])] if local else None,
                      inputs={"pool": str(pool_path), "pool_sha256_16": source.sha},
                      config={"judge": identity, **config, "rows": len(pool),
                              "code_version": CODE_VERSION})
    return RatingTable(run.table.to_pandas(), run, judge)


def alpagasus_conversation(prompt: str, row) -> list[dict]:
    """The chat messages that ask the judge to rate one (input, target) pair."""
    system, user = ALPAGASUS_PROMPTS[prompt]
    return [{"role": "system", "content": system},
            {"role": "user", "content": user.format(input=row["input"], target=row["target"])}]


def alpagasus_ratings(pool_path: str | Path, judge: Judge, *, prompt: str = "study", parse: str = "first-number",
                      mode: str = "forward", ids: list[str] | None = None,
                      store: ArtifactStore | None = None, retry_failed: bool = True,
                      pool_read: PoolRead | None = None) -> RatingTable:
    """AlpaGasus 0-5 accuracy ratings: ``forward`` = expected value over "0".."5" (argmax kept too),
    ``generate`` = the parsed reply text (``parse``: first-number, or the study's buggy ``paper``)."""
    if prompt not in ALPAGASUS_PROMPTS:
        raise ChaseError(f"unknown --prompt '{prompt}'; valid: {', '.join(ALPAGASUS_PROMPTS)}")
    if mode not in RATING_MODES:
        raise ChaseError(f"unknown --rating-mode '{mode}'; valid: {', '.join(RATING_MODES)}")
    parser = get_parser(parse)
    settings = ALPAGASUS_SETTINGS[prompt]

    def rate(rows: pd.DataFrame) -> list[dict]:
        conversations = [alpagasus_conversation(prompt, row) for _, row in rows.iterrows()]
        if mode == "forward":
            replies = judge.choose(conversations, ALPAGASUS_CHOICES)
        else:
            replies = judge.complete(conversations, max_tokens=settings["max_tokens"],
                                     temperature=settings["temperature"])
        out = []
        for row_id, reply in zip(rows["id"], replies):
            if not reply.ok:
                out.append(_row(row_id, reply, None, None, reply.failure, reply.extra.get("raw", reply.text)))
            elif mode == "forward":
                out.append(_row(row_id, reply, *expected_choice(reply.choice_probs), None, None))
            else:
                try:
                    out.append(_row(row_id, reply, parser(reply.text), None, None, reply.text))
                except ValueError as exc:
                    out.append(_row(row_id, reply, None, None, f"unparseable rating: {exc}", reply.text))
        return out

    config = {"prompt": prompt, "mode": mode, "parse": parse if mode == "generate" else None,
              "max_tokens": settings["max_tokens"] if mode == "generate" else None}
    return _judge_table("judge-ratings", Path(pool_path), judge, ids, config, rate, store or ArtifactStore.default(),
                        retry_failed, pool_read)


def deita_scores(pool_path: str | Path, judge: Judge, kind: str, *, ids: list[str] | None = None,
                 store: ArtifactStore | None = None, retry_failed: bool = True,
                 pool_read: PoolRead | None = None) -> RatingTable:
    """DEITA complexity (instruction only) or quality (instruction + response) scores: the expected
    value over "1".."6" at the first generated position, from one batched forward pass per row."""
    if kind not in DEITA_PROMPTS:
        raise ChaseError(f"unknown DEITA score '{kind}'; valid: {', '.join(DEITA_PROMPTS)}")

    def rate(rows: pd.DataFrame) -> list[dict]:
        conversations = [[{"role": "user", "content": DEITA_PROMPTS[kind].format(input=row["input"],
                                                                                 target=row["target"])}]
                         for _, row in rows.iterrows()]
        out = []
        for row_id, reply in zip(rows["id"], judge.choose(conversations, DEITA_CHOICES)):
            if reply.ok:
                out.append(_row(row_id, reply, *expected_choice(reply.choice_probs), None, None))
            else:
                out.append(_row(row_id, reply, None, None, reply.failure, reply.extra.get("raw", reply.text)))
        return out

    return _judge_table("deita-scores", Path(pool_path), judge, ids, {"score": kind}, rate,
                        store or ArtifactStore.default(), retry_failed, pool_read)


def failure_summary(table: RatingTable, max_failure_rate: float, what: str) -> str:
    """A one-line failure count and rate; an error when the rate is above ``max_failure_rate``."""
    failed, total = len(table.failures), len(table.frame)
    line = f"{what}: {failed} of {total} rows failed ({table.failure_rate():.1%})"
    if failed and table.failure_rate() > max_failure_rate:
        reasons = table.failures["failure"].str.slice(0, 80).value_counts().head(3)
        raise ChaseError(f"{line}, above --max-failure-rate {max_failure_rate:.1%}; most common: "
                         + "; ".join(f"{n} x {r}" for r, n in reasons.items()) + f" (table: {table.run.path})")
    return line


def sample_ids(pool_ids: list[str], limit: int | None, seed: int) -> list[str] | None:
    """A seeded sample of ``limit`` ids in pool order (the study scored ~40k rows per pool), or None = all."""
    if limit is None or limit >= len(pool_ids):
        return None
    return [pool_ids[i] for i in subsample_indices(len(pool_ids), limit, [seed, limit], option="--score-limit")]


# Ask-LLM (Sachdeva et al. 2024, "How to Train Data-Efficient LLMs"), its prompt turned to instruction data.
ASKLLM_PROMPT = ("###\nInstruction: {input}\nResponse: {target}\n###\n\n"
                 "Does the previous paragraph demarcated within ### and ### contain informative signal for "
                 "fine-tuning a large language model to follow instructions? An informative datapoint has a clear "
                 "instruction and a correct, helpful, well-formatted response, and strictly does NOT have any "
                 "harmful, racist, sexist, etc. content.\n\nOPTIONS:\n- yes\n- no")
ASKLLM_CHOICES = ["yes", "no"]
ASKLLM_FLOOR = 1e-30  # log(0) would not survive JSON; a probability below this scores log(1e-30)


def askllm_scores(pool_path: str | Path, judge: Judge, *, ids: list[str] | None = None,
                  store: ArtifactStore | None = None, retry_failed: bool = False,
                  pool_read: PoolRead | None = None) -> RatingTable:
    """Ask-LLM: log P("yes" | yes or no) to "is this a good training example?", one forward (``choose``) per row.

    ``argmax`` keeps the likelier answer. Local judges read it from the next-token logits, endpoints
    from the first position's logprobs.
    """

    def rate(rows: pd.DataFrame) -> list[dict]:
        conversations = [[{"role": "user", "content": ASKLLM_PROMPT.format(input=row["input"], target=row["target"])}]
                         for _, row in rows.iterrows()]
        out = []
        for row_id, reply in zip(rows["id"], judge.choose(conversations, ASKLLM_CHOICES)):
            if reply.ok:
                yes = reply.choice_probs["yes"]
                out.append(_row(row_id, reply, math.log(max(yes, ASKLLM_FLOOR)), max(reply.choice_probs,
                                key=reply.choice_probs.get), None, None))
            else:
                out.append(_row(row_id, reply, None, None, reply.failure, reply.extra.get("raw", reply.text)))
        return out

    return _judge_table("askllm-scores", Path(pool_path), judge, ids, {"prompt": "askllm-1"}, rate,
                        store or ArtifactStore.default(), retry_failed, pool_read)
