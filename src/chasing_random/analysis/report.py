"""``chase report``: read a run folder, compare every strategy with random, price the selections,
draw Figure 1 and write ``report.md``, a self-contained ``report.html``, the PNGs and ``results.csv``."""

from __future__ import annotations

import base64
import csv
import html
import io
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from chasing_random.analysis.compare import RANDOM_NULL, SettingResult, analyse
from chasing_random.analysis.corruption import SubsetCorruption, subset_corruption
from chasing_random.analysis.costs import CostModel
from chasing_random.analysis.grid import Generalisation, SignalNoise, generalisation, signal_noise
from chasing_random.analysis.plots import figure1, forest
from chasing_random.analysis.study_table import StudyTable, panel_order, study_tables
from chasing_random.analysis.twolevel import BETTER, VERDICTS, WORSE
from chasing_random.data.synth import LABELS
from chasing_random.results import FULL, RANDOM, EvaluationRow, RunResults
from chasing_random.store import atomic_path, write_text_atomic

CSV_COLUMNS = ("pool", "budget", "benchmark", "metric", "primary", "strategy", "seed", "value", "strategy_value",
               "random_mean", "random_std", "random_seeds", "run_sd", "run_df", "run_share", "difference", "ci_low",
               "ci_high", "p_value", "q_value", "p_equivalence", "margin", "mde", "baseline", "paired", "prompts",
               "prompt_test", "prompt_p", "percentile_among_random", "verdict", "adjusted_verdict",
               "selection_cost_usd")
CSS = """body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:2rem auto;max-width:1500px;color:#222;
padding:0 1rem}h1{border-bottom:2px solid #8c3b2c}h2{margin-top:2.2rem;color:#8c3b2c}table{border-collapse:collapse;
margin:.8rem 0;font-size:.85rem}th,td{border:1px solid #ddd;padding:.3rem .6rem;text-align:right}td{white-space:nowrap}th{background:#f6ece3}
td:first-child,th:first-child{text-align:left}tr:nth-child(even){background:#fafafa}.better{color:#1a7f37;
font-weight:600}.worse{color:#c62828;font-weight:600}img{max-width:100%;border:1px solid #eee}p.note{color:#555}"""


def fmt(value: float | None, digits: int = 4) -> str:
    """Numbers for tables: blank when missing, else ``digits`` decimals."""
    return "" if value is None else f"{value:.{digits}f}"


def pct(value: float | None, points: float) -> str:
    """A metric value in percent (accuracies are stored in [0, 1], win rates in percent)."""
    return "" if value is None else f"{points * value:.1f}%"


def pp(value: float | None, points: float, sign: bool = True) -> str:
    """A difference in percentage points."""
    return "" if value is None else f"{points * value:{'+' if sign else ''}.1f} pp"


def pval(value: float | None) -> str:
    return "" if value is None else "<0.001" if value < 0.001 else f"{value:.3f}"


def money(value: float | None) -> str:
    return "n/a" if value is None else f"${value:,.4f}" if value < 1 else f"${value:,.2f}"


@dataclass
class Table:
    title: str
    headers: list[str]
    rows: list[list[str]]
    note: str = ""


@dataclass
class Section:
    title: str
    notes: list[str] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    images: list[Path] = field(default_factory=list)


@dataclass
class Report:
    """What ``build_report`` wrote and the numbers the CLI prints."""

    html: Path
    markdown: Path
    csv: Path
    figures: list[Path]
    generalisation: Generalisation
    settings: list[SettingResult]
    signal_noise: list[SignalNoise]
    study_tables: list[StudyTable] = field(default_factory=list)


def _split_note(result: SettingResult) -> str:
    """The noise a comparison in this setting is read against, split into run-to-run and prompt sampling."""
    points, parts = result.spec.points, []
    if result.run_sd is not None:
        parts.append(f"one run's value varies by SD {pp(result.run_sd, points, False)} "
                     f"(pooled over {result.run_var.df} degrees of freedom)")
    split = result.split
    if split is not None and split.run_share is not None:
        parts.append(f"of its variance {100 * split.run_share:.0f}% is run-to-run (SD "
                     f"{pp(split.run ** 0.5, points, False)}) and {100 * (1 - split.run_share):.0f}% prompt sampling "
                     f"(SE {pp(split.prompt ** 0.5, points, False)} over {split.prompts} prompts)")
    return "Random: " + "; ".join(parts) + "." if parts else "Random: fewer than 2 runs, no run variance."


def _length_note(results: list[SettingResult]) -> list[str]:
    """What the length-adjusted win rate controls for, when the report shows one."""
    if not any(r.setting.metric == "length_adjusted_win_rate" for r in results):
        return []
    return ["length_adjusted_win_rate is our own length adjustment, not AlpacaEval's length-controlled win rate: "
            "the judge's win rate predicted at equal answer lengths (a logistic fit of the preferences on tanh of the "
            "standardized length difference). It controls for the judge's preference for longer answers only, not "
            "for instruction difficulty; AlpacaEval's LC needs its hub files (`chase evaluate winrate --lc-dir`)."]


def _setting_table(result: SettingResult, cost_of) -> Table:
    setting, points = result.setting, result.spec.points
    rows = []
    if result.random_values:
        values = list(result.random_values.values())
        rows.append([RANDOM, str(len(values)), f"{pct(result.random_mean, points)} (seeds {pct(min(values), points)}"
                     f" to {pct(max(values), points)})", "", "", "", "", "", "", "", "",
                     money(cost_of(setting.pool, RANDOM, setting.budget))])
    for strategy in result.strategies:
        c = strategy.comparison
        if c is None:
            rows.append([strategy.strategy, str(len(strategy.values)), pct(strategy.value, points),
                         "no random runs"] + [""] * 7 + [money(cost_of(setting.pool, strategy.strategy, setting.budget))])
            continue
        ci = f"[{pp(c.ci_low, points)}, {pp(c.ci_high, points)}]" if c.ci_low is not None else "no interval"
        p_text = pval(c.prompt_p)
        prompt = (f"{c.prompt_test.split()[-2]} p{'' if p_text.startswith('<') else '='}{p_text} ({c.prompts})"
                  if c.prompt_test else "")
        rows.append([strategy.strategy, str(len(strategy.values)), pct(strategy.value, points),
                     pp(c.difference, points) + ("" if c.baseline == RANDOM_NULL else f" vs {c.baseline}"), ci,
                     pval(c.p_value), pval(c.q_value), pp(c.mde, points, False), c.verdict, prompt,
                     fmt(c.percentile, 0) if c.percentile is not None else "",
                     money(cost_of(setting.pool, strategy.strategy, setting.budget))])
    return Table(setting.label, ["strategy", "runs", "value", "difference", "two-level 95% CI", "p", "BH q",
                                 "MDE (80% power)", "verdict", "prompt-level test (prompts)",
                                 "percentile among random", "selection cost"], rows, _split_note(result))


def _csv_rows(results: list[SettingResult], cost_of) -> list[dict]:
    out = []
    for result in results:
        s = result.setting
        split = result.split
        common = {"pool": s.pool, "budget": "" if s.budget is None else s.budget, "benchmark": s.benchmark,
                  "metric": s.metric, "primary": int(s.primary), "random_mean": fmt6(result.random_mean),
                  "random_std": fmt6(result.random_std), "random_seeds": len(result.random_values),
                  "run_sd": fmt6(result.run_sd), "run_df": result.run_var.df,
                  "run_share": fmt6(split.run_share if split else None)}
        for seed, value in sorted(result.random_values.items(), key=lambda kv: (kv[0] is None, kv[0] or 0)):
            out.append({**common, "strategy": RANDOM, "seed": "" if seed is None else seed, "value": fmt6(value),
                        "strategy_value": fmt6(result.random_mean),
                        "selection_cost_usd": fmt6(cost_of(s.pool, RANDOM, s.budget))})
        for strategy in result.strategies:
            c = strategy.comparison
            extra = {} if c is None else {
                "difference": fmt6(c.difference), "ci_low": fmt6(c.ci_low), "ci_high": fmt6(c.ci_high),
                "p_value": fmt6(c.p_value), "q_value": fmt6(c.q_value), "p_equivalence": fmt6(c.p_equivalence),
                "margin": fmt6(c.margin), "mde": fmt6(c.mde), "baseline": c.baseline, "paired": int(c.paired),
                "prompts": c.prompts, "prompt_test": c.prompt_test, "prompt_p": fmt6(c.prompt_p),
                "percentile_among_random": fmt6(c.percentile), "verdict": c.verdict,
                "adjusted_verdict": c.adjusted_verdict}
            for seed, value in sorted(strategy.values.items(), key=lambda kv: (kv[0] is None, kv[0] or 0)):
                out.append({**common, **extra, "strategy": strategy.strategy, "seed": "" if seed is None else seed,
                            "value": fmt6(value), "strategy_value": fmt6(strategy.value),
                            "selection_cost_usd": fmt6(cost_of(s.pool, strategy.strategy, s.budget))})
    return out


def fmt6(value: float | None) -> str:
    return "" if value is None else f"{value:.6f}"


def _generalisation_tables(gen: Generalisation, confidence: float) -> list[Table]:
    rows = []
    for name, s in gen.strategies.items():
        interval = f" [{100 * s.p_beats_ci[0]:.0f}%, {100 * s.p_beats_ci[1]:.0f}%]" if s.p_beats_ci else ""
        rows.append([name, str(s.settings)] + [str(s.raw[v]) for v in VERDICTS]
                    + [f"{s.adjusted[BETTER]} / {s.adjusted[WORSE]}", f"{s.chance_wins:.1f}",
                       f"{100 * s.p_beats:.0f}%{interval}" if s.p_beats is not None else "",
                       f"{s.standardized_effect:+.2f}" if s.standardized_effect is not None else ""])
    counts = Table("Does any strategy beat random? (primary metric of each benchmark)",
                   ["strategy", "settings", *VERDICTS, "better / worse after BH", "better by chance alone (expected)",
                    "P(beats a random run) [stratified 95% CI]", "mean effect (run SDs)"], rows)
    best = Table("Best value in each setting", ["setting", "best value", "distinguishable from random?"],
                 [[label, name, f"yes: {name} beats random" if winner else
                   ("(random itself)" if name == RANDOM else "no: not distinguishable from random")]
                  for label, name, winner in gen.best])
    return [counts, best]


def _judge_table(rows: list[EvaluationRow]) -> Table | None:
    """Pairwise benchmarks: the random-vs-random null (each random seed judged against the other random
    seeds) and the judge's position bias on prompts judged in both orders."""
    primary: dict[str, str] = {}
    for row in rows:
        primary.setdefault(row.benchmark, row.metric)
    pairwise = [row for row in rows if row.reference_value is not None and row.metric == primary[row.benchmark]]
    budgets: dict[str, set[int]] = defaultdict(set)
    for row in pairwise:
        if row.budget is not None:
            budgets[row.pool].add(row.budget)
    groups: dict[tuple, list[EvaluationRow]] = defaultdict(list)
    for row in pairwise:  # whole-pool rows join every budget of their pool, as in the settings
        for budget in [row.budget] if row.budget is not None else sorted(budgets[row.pool]) or [-1]:
            groups[(row.pool, budget, row.benchmark)].append(row)
    out = []
    for (pool, budget, benchmark), members in sorted(groups.items()):
        null = [r.value for r in members if r.strategy == RANDOM]
        orders = [r.judge_order for r in members if r.judge_order]

        def mean_of(key: str) -> str:
            values = [o[key] for o in orders if o.get(key) is not None]
            return f"{np.mean(values):.2f}" if values else ""

        out.append([f"{pool} / {budget if budget >= 0 else 'full'} / {benchmark}",
                    f"{np.mean(null):.1f}% (seeds {min(null):.1f}% to {max(null):.1f}%, {len(null)} runs)" if null
                    else "no random seed judged: read against an assumed 50%",
                    str(sum(int(o.get("prompts") or 0) for o in orders)), mean_of("flip_rate"), mean_of("kappa"),
                    mean_of("first_shown_wins")])
    if not out:
        return None
    return Table("Pairwise judge: the random-vs-random null and position bias",
                 ["setting", "random seeds' win rate against the other random seeds (the null)",
                  "prompts judged in both orders", "flip rate", "Cohen's kappa between orders",
                  "answer shown first wins"], out,
                 "Strategies' win rates are compared with the null, not with 50: a judge that favours one position "
                 "or one kind of answer moves the null away from 50. Flip rate: share of prompts whose winner "
                 "changes when the two answers swap places; kappa 1 = the order never matters.")


def _signal_section(noise: list[SignalNoise]) -> Table:
    rows = [[n.label, pp(n.signal, n.points, False), pp(n.noise, n.points, False),
             "" if n.ratio is None else f"{n.ratio:.2f}", pp(n.median_mde, n.points, False),
             "possibly: strategies spread at least as much as random runs (a ratio, not a test)" if n.separates else "cannot tell: random runs do not vary" if not n.noise
             else "no: strategies differ less than random runs do"] for n in noise]
    return Table("Signal (SD across strategies) against noise (SD of one random run)",
                 ["setting", "signal", "noise", "ratio", "median MDE", "can this benchmark separate strategies?"], rows)


def _cost_section(model: CostModel, results: list[SettingResult]) -> Section:
    section = Section("Cost of selection against fine-tuning on the full pool")
    for pool in sorted({r.setting.pool for r in results}):
        full, note = model.full_finetune(pool)
        section.notes.append(f"Pool **{pool}**: fine-tuning on the full pool costs {money(full)} ({note}).")
        rows = []
        budgets = sorted({r.setting.budget for r in results if r.setting.pool == pool}, key=lambda b: b or 0)
        strategies = sorted({s.strategy for r in results if r.setting.pool == pool for s in r.strategies} | {RANDOM})
        for budget in budgets:
            for strategy in strategies:
                if strategy == FULL:
                    continue
                cost = model.selection(pool, strategy, budget)
                ratio = f"{cost.dollars / full:.2f}x" if full else "n/a"
                rows.append([strategy, "full" if budget is None else str(budget), f"{cost.device_hours:.4f}",
                             str(cost.api_tokens), money(cost.dollars), ratio,
                             "measured" if cost.rows else "nothing recorded ($0)"])
        section.tables.append(Table(f"{pool}: selection cost", ["strategy", "budget", "device-hours", "API tokens",
                                                               "selection $", "vs full fine-tuning", "source"], rows))
    section.notes.append("Prices come from config.json `prices` (dollars per device-hour and per million API "
                         "tokens). Scoring shared across budgets (cost rows with budget null) counts for every "
                         "budget; seed-specific rows are averaged over seeds.")
    return section


def _corruption_section(corruption: list[SubsetCorruption]) -> Section:
    rows = [[c.subset.pool, c.subset.strategy, str(c.subset.budget if c.subset.budget is not None else "full"),
             "" if c.subset.seed is None else str(c.subset.seed), str(c.rows)]
            + [f"{100 * c.rates[label]:.1f}%" for label in LABELS] + [f"{100 * (1 - c.rates['none']):.1f}%"]
            for c in corruption]
    return Section("Corruption rates of the selected subsets (audit pool)",
                   ["Share of each subset's rows by `meta.corruption` label; a strategy that filters well "
                    "keeps the corrupted share below the pool's."],
                   [Table("corruption by subset", ["pool", "strategy", "budget", "seed", "rows", *LABELS,
                                                   "corrupted"], rows)])


def _selection_section(subsets: list, gen: Generalisation) -> Section | None:
    """Strategies grouped by whether they looked at evaluation data, and the contaminated rows each subset took."""
    targeted = {s.strategy for s in subsets if s.targeted}
    flagged = [s for s in subsets if s.contaminated is not None]
    if not targeted and not flagged:
        return None
    section = Section("Targeted strategies and benchmark contamination", [
        "A **targeted** strategy looks at evaluation data (e.g. RDS+ with a benchmark's prompts as queries): its "
        "win answers \"does choosing data like the test help?\", not the study's question, so it is counted "
        "apart from the untargeted strategies."])
    rows = [[("targeted" if name in targeted else "untargeted"), name, *(str(t[v]) for v in VERDICTS)]
            for name, t in sorted(gen.counts.items(), key=lambda kv: (kv[0] in targeted, kv[0]))]
    section.tables.append(Table("Verdicts against random, by kind of strategy", ["kind", "strategy", *VERDICTS],
                                rows))
    if flagged:
        section.notes.append("Contaminated: rows of the subset whose text overlaps a benchmark prompt "
                             "(`decontaminate:` of the pool); a strategy that wins by picking them must be visible.")
        section.tables.append(Table("Contaminated rows per subset", ["pool", "strategy", "kind", "budget", "seed",
                                                                     "contaminated"],
                                    [[s.pool, s.strategy, "targeted" if s.targeted else "untargeted",
                                      str(s.budget if s.budget is not None else "full"),
                                      "" if s.seed is None else str(s.seed), str(s.contaminated)] for s in flagged]))
    return section


def _markdown(title: str, sections: list[Section], run_dir: Path) -> str:
    lines = [f"# {title}", ""]
    for section in sections:
        lines += [f"## {section.title}", ""]
        lines += [note + "\n" for note in section.notes]
        for image in section.images:
            lines += [f"![{image.stem}]({image.relative_to(run_dir).as_posix()})", ""]
        for table in section.tables:
            lines += [f"**{table.title}**", ""] + ([table.note, ""] if table.note else [])
            lines += ["| " + " | ".join(table.headers) + " |",
                      "|" + "---|" * len(table.headers)]
            lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in table.rows]
            lines.append("")
    return "\n".join(lines)


def _inline_markdown(text: str) -> str:
    escaped = html.escape(text)
    parts = escaped.split("**")
    escaped = "".join(f"<strong>{p}</strong>" if i % 2 else p for i, p in enumerate(parts))
    parts = escaped.split("`")
    return "".join(f"<code>{p}</code>" if i % 2 else p for i, p in enumerate(parts))


def _html(title: str, sections: list[Section]) -> str:
    body = [f"<h1>{html.escape(title)}</h1>"]
    for section in sections:
        body.append(f"<h2>{html.escape(section.title)}</h2>")
        body += [f"<p class=\"note\">{_inline_markdown(note)}</p>" for note in section.notes]
        for image in section.images:
            data = base64.b64encode(image.read_bytes()).decode("ascii")
            body.append(f'<p><img alt="{html.escape(image.stem)}" src="data:image/png;base64,{data}"></p>')
        for table in section.tables:
            head = "".join(f"<th>{html.escape(h)}</th>" for h in table.headers)
            rows = []
            for row in table.rows:
                cells = "".join(f'<td class="{c}">{html.escape(c)}</td>' if c in VERDICTS
                                else f"<td>{html.escape(c)}</td>" for c in row)
                rows.append(f"<tr>{cells}</tr>")
            note = f'<p class="note">{_inline_markdown(table.note)}</p>' if table.note else ""
            body.append(f"<h3>{html.escape(table.title)}</h3>{note}<table><thead><tr>{head}</tr></thead>"
                        f"<tbody>{''.join(rows)}</tbody></table>")
    return (f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title>"
            f"<style>{CSS}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n")


def build_report(run_dir: str | Path, *, resamples: int = 2000, confidence: float = 0.95, seed: int = 0,
                 figures: bool = True) -> Report:
    """Analyse a run folder and write every report file into it (``figures=False``: no PNGs, for big grids)."""
    run = RunResults.load(run_dir)
    run_dir = run.run_dir
    results = analyse(run.evaluations, resamples=resamples, confidence=confidence, seed=seed,
                      margins=run.config.margins())
    model = CostModel(run.costs, run.config.prices, run.subsets, run.resolve)

    def cost_of(pool: str, strategy: str, budget: int | None) -> float:
        if strategy == FULL:
            return model.full_finetune(pool)[0] or 0.0
        return model.selection(pool, strategy, budget).dollars

    gen = generalisation(results, confidence=confidence, resamples=resamples, seed=seed)
    noise = signal_noise(results)
    figures = _figures(results, cost_of, run_dir) if figures else []
    tables = study_tables(results, cost_of, money)
    alpha = 1 - confidence
    sections = [
        Section("Verdict summary: does any strategy beat random?", [
            f"Each strategy's runs are compared with the random runs as draws from run distributions: the "
            f"difference of means with a {confidence:.0%} t-interval whose run-to-run variance is pooled over the "
            "pools that share a benchmark, metric and budget, so it counts both which prompts were sampled and "
            "how much fine-tunes on different random subsets differ (a strategy with one run is one draw).",
            f"**better** / **worse**: the interval excludes 0 (p < {alpha:g}). **equivalent**: two one-sided tests "
            "put the difference inside the benchmark's margin. **inconclusive**: neither; the MDE column says how "
            "large a difference the setting could have found (80% power), so 'no better than random' is told "
            "apart from 'too few prompts or runs to tell'.",
            f"Across the grid the p-values get Benjamini-Hochberg q-values; a strategy no better than random would "
            f"still be called better in about {alpha / 2:.1%} of settings, the 'by chance alone' column. "
            "P(beats a random run): the share of random runs it scores above, averaged over settings, with a "
            "bootstrap interval that resamples settings within each benchmark; mean effect: difference / SD of "
            "one random run."], _generalisation_tables(gen, confidence)),
        Section("The study's table", ["Figure 1 as a table per (pool, budget): each benchmark's primary metric "
                "(random = its seeds' mean) and the dollar cost of selection; — = not in this run."],
                [Table(t.title, t.headers, t.rows) for t in tables]),
        Section("Every setting against random", [
            "Values in percent; differences in percentage points (pp). p, BH q and the verdict come from the "
            "two-level comparison; the prompt-level test holds the trained models fixed (exact sign test for 0/1 "
            "scores, paired permutation test otherwise, whole prompts flipped with weights for ratio metrics such "
            "as IFEval's instruction level) and so answers a narrower question: do these particular "
            "models differ on the population of prompts.", *_length_note(results)],
                [_setting_table(r, cost_of) for r in results]),
        Section("Figures", [
            "Figure 1 (one per pool and budget): each benchmark's values against the dollar cost of selection, "
            "with two-level intervals and the grey band where 95% of single random runs fall; a star marks the "
            "best only when it beats random. Forest plots: each strategy's difference from random with its "
            "interval, the random-run band and the equivalence margin."], images=figures),
        Section("Diagnostics", ["A benchmark whose strategies differ less than its random runs do cannot rank "
                                "strategies at this budget, whatever the verdicts say."],
                [t for t in (_signal_section(noise), _judge_table(run.evaluations)) if t is not None]),
        _cost_section(model, results),
    ]
    selection = _selection_section(run.subsets, gen)
    if selection is not None:
        sections.append(selection)
    corruption = subset_corruption(run.subsets, run.resolve)
    if corruption:
        sections.append(_corruption_section(corruption))
    title = f"chasing-random report: {run_dir.name}"
    markdown, page, table = run_dir / "report.md", run_dir / "report.html", run_dir / "results.csv"
    write_text_atomic(markdown, _markdown(title, sections, run_dir))
    write_text_atomic(page, _html(title, sections))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, lineterminator="\n", restval="")
    writer.writeheader()
    writer.writerows(_csv_rows(results, cost_of))
    with atomic_path(table) as tmp:
        tmp.write_text(buffer.getvalue(), encoding="utf-8")
    return Report(page, markdown, table, figures, gen, results, noise, tables)


def _figures(results: list[SettingResult], cost_of, run_dir: Path) -> list[Path]:
    """Figure 1 per (pool, budget) and a forest plot per benchmark (primary metrics)."""
    figures = []
    by_panel: dict[tuple, list[SettingResult]] = defaultdict(list)
    by_benchmark: dict[str, list[SettingResult]] = defaultdict(list)
    for result in results:
        if result.setting.primary:
            by_panel[(result.setting.pool, result.setting.budget)].append(result)
            by_benchmark[result.setting.benchmark].append(result)
    for (pool, budget), panel in by_panel.items():
        panel.sort(key=lambda r: panel_order(r.setting.benchmark))  # the study's panel order first
        names = {RANDOM} | {s.strategy for r in panel for s in r.strategies}
        costs = {name: cost_of(pool, name, budget) for name in sorted(names)}
        label = "full" if budget is None else str(budget)
        figures.append(figure1(panel, costs, f"{pool}-{label}", run_dir / "figures" / f"figure1_{pool}_{label}.png"))
    for benchmark, members in by_benchmark.items():
        safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in benchmark)
        figures.append(forest(members, f"{benchmark}: difference from random",
                              run_dir / "figures" / f"forest_{safe}.png"))
    return figures
