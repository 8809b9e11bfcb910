"""``chase evaluate``: IFEval, pairwise win rate against reference models, win-rate metrics, lm-eval tasks."""

from __future__ import annotations

from pathlib import Path

import typer

from chasing_random.cli import app
from chasing_random.cli.common import echo_json
from chasing_random.ui import console

evaluate_app = typer.Typer(help="Evaluate model outputs and models: IFEval, pairwise win rate, lm-eval.",
                           no_args_is_help=True)
app.add_typer(evaluate_app, name="evaluate")

SUMMARY_KEYS = ("prompt_level_strict_acc", "inst_level_strict_acc", "prompt_level_loose_acc", "inst_level_loose_acc",
                "n_prompts", "n_missing", "n_extra", "generators")
WINRATE_KEYS = ("win_rate", "standard_error", "n_wins", "n_wins_base", "n_draws", "n_total", "discrete_win_rate",
                "avg_length", "length_controlled_winrate", "lc_standard_error", "n_records", "bad_preferences")


@evaluate_app.command("ifeval")
def ifeval(
    outputs: Path = typer.Option(..., "--outputs", help="Outputs file in AlpacaEval layout (.json list or .jsonl)."),
    out: Path = typer.Option(..., "--out", help="METRICS.json to write; the per-prompt JSONL goes beside it."),
    allow_partial: bool = typer.Option(False, "--allow-partial",
                                       help="Score the IFEval prompts that are present instead of failing."),
    prompts: Path = typer.Option(None, "--prompts", help="IFEval prompts JSONL (default: the packaged 541)."),
) -> None:
    """Score outputs on IFEval with Google's checkers (offline): strict/loose, prompt/instruction level.

    Example: chase evaluate ifeval --outputs gens/ifeval.json --out results/ifeval/METRICS.json
    """
    from chasing_random.evaluation.ifeval import evaluate_ifeval

    metrics = evaluate_ifeval(outputs, out, allow_partial=allow_partial, prompts_path=prompts)
    if metrics["n_missing"] or metrics["n_extra"]:
        console.print(f"[yellow]partial:[/] scored {metrics['n_prompts']} prompts, {metrics['n_missing']} IFEval "
                      f"prompts missing, {metrics['n_extra']} extra records ignored")
    echo_json({key: metrics[key] for key in SUMMARY_KEYS})


@evaluate_app.command("winrate")
def winrate(
    annotations: Path = typer.Option(..., "--annotations", help="AlpacaEval-layout annotations (.json or .jsonl)."),
    out: Path = typer.Option(None, "--out", help="METRICS.json to write (printed only when omitted)."),
) -> None:
    """Win rate, standard error, wins/draws, discrete and length-controlled win rate from annotations.

    Example: chase evaluate winrate --annotations results/pairwise/annotations.json --out METRICS.json
    """
    from chasing_random.evaluation.winrate import read_annotations, winrate_metrics
    from chasing_random.store import write_json_atomic

    metrics = winrate_metrics(read_annotations(annotations))
    if metrics["bad_preferences"]["total"]:
        bad = metrics["bad_preferences"]
        console.print(f"[yellow]{bad['total']} of {metrics['n_records']} preferences are unusable[/] "
                      f"(null {bad['null']}, outside [1, 2] {bad['out_of_range']}, not a number "
                      f"{bad['not_a_number']}); they are excluded from n_total and every rate")
    if out:
        write_json_atomic(out, metrics)
    echo_json({key: metrics[key] for key in WINRATE_KEYS})


@evaluate_app.command("harness")
def harness(
    model: str = typer.Option(..., "--model", help="Model folder, alias (smollm2-135m-instruct) or hub id."),
    tasks: str = typer.Option(..., "--tasks", help="Comma-separated lm-eval tasks; 'openllm' = arc_easy, "
                                                   "arc_challenge, hellaswag, mmlu, truthfulqa_mc1/mc2, winogrande; "
                                                   "offline: mmlu_local."),
    out: Path = typer.Option(..., "--out", help="METRICS.json to write (each task's acc and their mean)."),
    limit: float = typer.Option(None, "--limit", help="Documents per task (an int, or a fraction below 1)."),
    batch_size: int = typer.Option(8, "--batch-size", help="Batch size of lm-eval's HF model."),
    num_fewshot: int = typer.Option(None, "--num-fewshot", help="Few-shot examples (default: each task's own)."),
    dtype: str = typer.Option("float32", "--dtype", help="float32, bfloat16 or float16."),
    device: str = typer.Option("cpu", "--device", help="cpu, cuda, cuda:0, mps."),
    trust_remote_code: bool = typer.Option(False, "--trust-remote-code", help="Allow model code from the hub."),
) -> None:
    """Run lm-evaluation-harness tasks on a model through lm-eval's Python API.

    Example: chase evaluate harness --model runs/model-dolly-10k --tasks mmlu_local --limit 200 --out METRICS.json
    """
    from chasing_random.evaluation.harness import run_harness

    if limit is not None and limit >= 1:
        limit = int(limit)
    metrics = run_harness(model, tasks, limit, out, batch_size=batch_size, num_fewshot=num_fewshot, device=device,
                          dtype=dtype, trust_remote_code=trust_remote_code)
    echo_json({"mean_acc": metrics["mean_acc"], "tasks": metrics["tasks"]})


@evaluate_app.command("pairwise")
def pairwise(
    outputs: Path = typer.Option(..., "--outputs", help="Candidate outputs (AlpacaEval layout)."),
    reference: list[Path] = typer.Option(..., "--reference", help="Reference outputs file(s): --reference R1 R2 R3 "
                                                                 "or a repeated --reference; one = head-to-head."),
    more_references: list[Path] = typer.Argument(None, help="Further reference files after --reference.",
                                                 show_default=False),
    judge: str = typer.Option(..., "--judge", help="local:NAME (alias, folder, hub id) or openai:MODEL; "
                                                  "a bare name means local:NAME."),
    out: Path = typer.Option(..., "--out", help="Folder for annotations.json, METRICS.json and the judge cache."),
    protocol: str = typer.Option("weighted", "--protocol", help="weighted: preference from the answer token's "
                                                               "probabilities; discrete: parse the judge's text."),
    both_orders: bool = typer.Option(False, "--both-orders", help="Judge each pair in both orders and average."),
    seed: int = typer.Option(0, "--seed", help="Seed of the reference draw and the shown order."),
    judge_option: list[str] = typer.Option(None, "--judge-option", help="Judge backend option KEY=VALUE "
                                                                       "(e.g. base_url=..., max_concurrency=4)."),
    batch_size: int = typer.Option(8, "--batch-size", help="Batch size of a local judge."),
    dtype: str = typer.Option("float32", "--dtype", help="dtype of a local judge."),
    max_output_chars: int = typer.Option(None, "--max-output-chars",
                                         help="Cut each answer shown to the judge to this many characters."),
    trust_remote_code: bool = typer.Option(False, "--trust-remote-code", help="Allow model code from the hub."),
) -> None:
    """Win rate of a candidate against reference models, judged by an LLM (AlpacaEval 2 style).

    Example: chase evaluate pairwise --outputs cand.json --reference seed0.json seed1.json seed2.json --judge local:smollm2-135m-instruct --out results/pairwise
    """
    from chasing_random.evaluation.pairwise import run_pairwise
    from chasing_random.judges.factory import JudgeSpec

    spec = (JudgeSpec.parse(judge, judge_option).with_cache(out / "judge_cache")
            .local_defaults(batch_size=batch_size, dtype=dtype, trust_remote_code=trust_remote_code))
    metrics = run_pairwise(outputs, [*reference, *(more_references or [])], spec.build(), out,
                           seed=seed, both_orders=both_orders, protocol=protocol, max_output_chars=max_output_chars)
    if metrics["n_judge_failures"]:
        console.print(f"[yellow]{metrics['n_judge_failures']} judge failures[/] (preference null, reasons in "
                      f"{out / 'annotations.json'}); excluded from n_total")
    echo_json({key: metrics[key] for key in (*WINRATE_KEYS, "n_judge_failures", "per_reference")})
