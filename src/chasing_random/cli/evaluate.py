"""``chase evaluate``: IFEval, pairwise win rate against reference models, win-rate metrics, lm-eval tasks."""

from __future__ import annotations

from pathlib import Path

import typer

from chasing_random.cli import app
from chasing_random.cli.common import echo_json
from chasing_random.ui import console, styled

evaluate_app = typer.Typer(help="Evaluate model outputs and models: IFEval, pairwise win rate, lm-eval, LLMBar, "
                                "InFoBench.",
                           no_args_is_help=True)
app.add_typer(evaluate_app, name="evaluate")

SUMMARY_KEYS = ("prompt_level_strict_acc", "inst_level_strict_acc", "prompt_level_loose_acc", "inst_level_loose_acc",
                "n_prompts", "n_missing", "n_extra", "generators")
WINRATE_KEYS = ("win_rate", "standard_error", "n_wins", "n_wins_base", "n_draws", "n_total", "discrete_win_rate",
                "avg_length", "length_adjusted_win_rate", "length_adjusted_se", "n_records", "bad_preferences")


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
        console.print(styled("partial:", "yellow"), f"scored {metrics['n_prompts']} prompts, {metrics['n_missing']} IFEval "
                      f"prompts missing, {metrics['n_extra']} extra records ignored")
    echo_json({key: metrics[key] for key in SUMMARY_KEYS})


@evaluate_app.command("winrate")
def winrate(
    annotations: Path = typer.Option(..., "--annotations", help="AlpacaEval-layout annotations (.json or .jsonl)."),
    out: Path = typer.Option(None, "--out", help="METRICS.json to write (printed only when omitted)."),
    lc_dir: Path = typer.Option(None, "--lc-dir", help="Folder with AlpacaEval's hub file df_gamed.csv (and "
                                                     "optionally instruction_difficulty.csv) from the dataset "
                                                     "tatsu-lab/alpaca_eval: adds AlpacaEval's own "
                                                     "length_controlled_winrate. The annotations must cover its "
                                                     "805 instructions in the eval set's order."),
) -> None:
    """Win rate, standard error, wins/draws, discrete and length-adjusted win rate (ours) from annotations;
    with --lc-dir also AlpacaEval 2's length-controlled win rate (its GLM, fitted as AlpacaEval does).

    Example: chase evaluate winrate --annotations results/pairwise/annotations.json --out METRICS.json

    Example (real LC): huggingface-cli download tatsu-lab/alpaca_eval df_gamed.csv instruction_difficulty.csv
    --repo-type dataset --local-dir alpaca_eval_hub, then
    chase evaluate winrate --annotations annotations.json --lc-dir alpaca_eval_hub
    """
    from chasing_random.evaluation.lc_winrate import read_lc_files
    from chasing_random.evaluation.winrate import read_annotations, winrate_metrics
    from chasing_random.store import write_json_atomic

    lc_files = read_lc_files(lc_dir) if lc_dir is not None else None
    metrics = winrate_metrics(read_annotations(annotations), lc_files)
    if metrics["bad_preferences"]["total"]:
        bad = metrics["bad_preferences"]
        console.print(styled(f"{bad['total']} of {metrics['n_records']} preferences are unusable", "yellow"),
                      f"(null {bad['null']}, outside [1, 2] {bad['out_of_range']}, not a number "
                      f"{bad['not_a_number']}); they are excluded from n_total and every rate")
    if lc_files is None:
        console.print(styled("no AlpacaEval LC:", "yellow"), "length_adjusted_win_rate is our own measure (length "
                      "only, no instruction difficulty); pass --lc-dir with AlpacaEval's df_gamed.csv for the real "
                      "length_controlled_winrate")
    elif (gap := metrics["lc_model"]["difficulty_file_max_abs_diff"]) is not None and gap > 1e-6:
        console.print(styled("warning:", "yellow"), f"instruction_difficulty.csv differs from df_gamed.csv's "
                      f"difficulties by up to {gap:.3g}; the LC uses df_gamed.csv's, as AlpacaEval does")
    if out:
        write_json_atomic(out, metrics)
    keys = WINRATE_KEYS + (("length_controlled_winrate", "lc_standard_error", "lc_bootstrap_se")
                           if lc_files is not None else ())
    echo_json({key: metrics[key] for key in keys})


@evaluate_app.command("harness")
def harness(
    model: str = typer.Option(..., "--model", help="Model folder, alias (smollm2-135m-instruct) or hub id."),
    tasks: str = typer.Option(..., "--tasks", help="Comma-separated lm-eval tasks and suites: openllm-study "
                                                   "(the study's 7 tasks, default shots, acc), openllm-leaderboard "
                                                   "(Open LLM Leaderboard v1 shots and metrics), openllm; "
                                                   "offline: mmlu_local."),
    out: Path = typer.Option(..., "--out", help="METRICS.json to write (each task's metric and their mean); "
                                                "per-item scores go beside it."),
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
    seed: int = typer.Option(0, "--seed", min=0, help="Seed of the reference draw and the shown order."),
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
        console.print(styled(f"{metrics['n_judge_failures']} judge failures", "yellow"), f"(preference null, reasons in "
                      f"{out / 'annotations.json'}); excluded from n_total")
    echo_json({key: metrics[key] for key in (*WINRATE_KEYS, "n_judge_failures", "per_reference")})


@evaluate_app.command("llmbar")
def llmbar(
    model: str = typer.Option(..., "--model", help="The evaluated model as judge: folder, alias or hub id "
                                                  "(or openai:MODEL for an endpoint)."),
    data: str = typer.Option("hub", "--data", help="LLMBar folder (flat SUBSET.json files or the repository's "
                                                  "Dataset/LLMBar layout), one subset file, or 'hub'."),
    out: Path = typer.Option(None, "--out", help="Folder for METRICS.json, per_item.jsonl and the judge cache "
                                                "(default results/llmbar/MODEL)."),
    limit: int = typer.Option(None, "--limit", help="A seeded sample of this many items (all subsets pooled)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the --limit sample."),
    subset: list[str] = typer.Option(None, "--subset", help="Only these subsets (repeatable): Natural, "
                                                           "Adversarial_Neighbor, _GPTInst, _GPTOut, _Manual."),
    protocol: str = typer.Option("weighted", "--protocol", help="weighted: choice from the A/B token "
                                                               "probabilities; discrete: parse generated text."),
    template: str = typer.Option(None, "--template", help="Prompt template of a local model (default: the "
                                                         "one it was trained with, from its manifest)."),
    batch_size: int = typer.Option(8, "--batch-size", help="Batch size of a local model."),
    dtype: str = typer.Option("float32", "--dtype", help="dtype of a local model."),
    device: str = typer.Option("cpu", "--device", help="cpu, cuda, cuda:0, mps."),
    max_output_chars: int = typer.Option(None, "--max-output-chars", help="Cut each output shown to this many "
                                                                         "characters."),
    judge_option: list[str] = typer.Option(None, "--judge-option", help="Judge backend option KEY=VALUE."),
    trust_remote_code: bool = typer.Option(False, "--trust-remote-code", help="Allow model code from the hub."),
) -> None:
    """LLMBar: how often the model, as a judge, picks the output that follows the instruction (both orders).

    Example: chase evaluate llmbar --model smollm2-135m-instruct --data ../shared/data/llmbar/ --limit 40
    """
    from chasing_random.evaluation.llmbar import run_llmbar
    from chasing_random.judges.factory import parse_judge_options

    out = out or Path("results") / "llmbar" / Path(model).name
    metrics = run_llmbar(model, out, data=data, limit=limit, seed=seed, subsets=subset or None, protocol=protocol,
                         max_output_chars=max_output_chars, batch_size=batch_size, dtype=dtype, device=device,
                         template=template, trust_remote_code=trust_remote_code,
                         judge_options=parse_judge_options(judge_option))
    if metrics["n_unparseable"]:
        console.print(styled(f"{metrics['n_unparseable']} of {metrics['n_orders']} judged orders failed", "yellow"),
                      f"(reasons in {out / 'per_item.jsonl'}); they count in no accuracy")
    echo_json({key: metrics[key] for key in ("accuracy", "natural_accuracy", "adversarial_accuracy",
                                             "positional_agreement", "unparseable_rate", "n_items",
                                             "n_items_scored", "per_subset")}
              | {"out": str(out)})


@evaluate_app.command("infobench")
def infobench(
    outputs: Path = typer.Option(..., "--outputs", help="Model outputs on InFoBench's prompts (AlpacaEval layout, "
                                                      "e.g. from chase generate --benchmark infobench)."),
    judge: str = typer.Option(..., "--judge", help="local:NAME or openai:MODEL; a bare name means local:NAME."),
    out: Path = typer.Option(..., "--out", help="Folder for METRICS.json, per_question.jsonl and the judge cache."),
    data: str = typer.Option("hub", "--data", help="InFoBench file in the hub's layout (JSON list or JSONL), or "
                                                  "'hub' (kqsong/InFoBench)."),
    protocol: str = typer.Option("weighted", "--protocol", help="weighted: Yes/No token probabilities; "
                                                               "discrete: parse the judge's text."),
    allow_partial: bool = typer.Option(False, "--allow-partial", help="Score the InFoBench prompts present in "
                                                                     "--outputs instead of failing."),
    judge_option: list[str] = typer.Option(None, "--judge-option", help="Judge backend option KEY=VALUE."),
    batch_size: int = typer.Option(8, "--batch-size", help="Batch size of a local judge."),
    dtype: str = typer.Option("float32", "--dtype", help="dtype of a local judge."),
    trust_remote_code: bool = typer.Option(False, "--trust-remote-code", help="Allow model code from the hub."),
) -> None:
    """InFoBench: DRFR (share of decomposed requirements the judge answers Yes) and all-requirements rate.

    Example: chase evaluate infobench --outputs gens/infobench.json --judge openai:gpt-4o --out results/infobench
    """
    from chasing_random.evaluation.infobench import per_question_path, run_infobench
    from chasing_random.judges.factory import JudgeSpec

    spec = (JudgeSpec.parse(judge, judge_option).with_cache(out / "judge_cache")
            .local_defaults(batch_size=batch_size, dtype=dtype, trust_remote_code=trust_remote_code))
    metrics = run_infobench(outputs, spec.build(), out, data=data, protocol=protocol, allow_partial=allow_partial)
    if metrics["n_failed"]:
        console.print(styled(f"{metrics['n_failed']} of {metrics['n_questions']} questions unanswered", "yellow"),
                      f"(reasons in {per_question_path(out)}); DRFR covers the {metrics['n_answered']} answered")
    echo_json({key: metrics[key] for key in ("drfr", "all_requirements_rate", "coverage", "n_questions",
                                             "n_answered", "n_failed", "n_instructions", "n_instructions_complete",
                                             "n_missing", "per_subset")})
