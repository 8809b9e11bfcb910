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

from chasing_random.analysis.compare import Generalisation, SettingResult, analyse, generalisation
from chasing_random.analysis.corruption import SubsetCorruption, subset_corruption
from chasing_random.analysis.costs import CostModel
from chasing_random.analysis.plots import figure1
from chasing_random.analysis.stats import BETTER, TIE, WORSE
from chasing_random.benchmarks import UNITS
from chasing_random.data.synth import LABELS
from chasing_random.results import FULL, RANDOM, RunResults
from chasing_random.store import atomic_path, write_text_atomic

CSV_COLUMNS = ("pool", "budget", "benchmark", "metric", "primary", "strategy", "seed", "value", "strategy_value",
               "random_mean", "random_std", "random_seeds", "difference", "ci_low", "ci_high", "baseline", "paired",
               "prompts", "percentile_among_random", "verdict", "selection_cost_usd")
CSS = """body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:2rem auto;max-width:1100px;color:#222;
padding:0 1rem}h1{border-bottom:2px solid #8c3b2c}h2{margin-top:2.2rem;color:#8c3b2c}table{border-collapse:collapse;
margin:.8rem 0;font-size:.9rem}th,td{border:1px solid #ddd;padding:.3rem .6rem;text-align:right}th{background:#f6ece3}
td:first-child,th:first-child{text-align:left}tr:nth-child(even){background:#fafafa}.better{color:#1a7f37;
font-weight:600}.worse{color:#c62828;font-weight:600}img{max-width:100%;border:1px solid #eee}p.note{color:#555}"""


def fmt(value: float | None, digits: int = 4) -> str:
    """Numbers for tables: blank when missing, else ``digits`` decimals."""
    return "" if value is None else f"{value:.{digits}f}"


def money(value: float | None) -> str:
    return "n/a" if value is None else f"${value:,.4f}" if value < 1 else f"${value:,.2f}"


@dataclass
class Table:
    title: str
    headers: list[str]
    rows: list[list[str]]


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


def _setting_table(result: SettingResult, cost_of) -> Table:
    setting = result.setting
    d = UNITS[setting.unit].digits
    rows = []
    if result.random_values:
        values = list(result.random_values.values())
        rows.append([RANDOM, str(len(values)), f"{fmt(result.random_mean, d)} ± {fmt(result.random_std, d) or '-'}",
                     f"range {fmt(min(values), d)} to {fmt(max(values), d)}", "", "", "", "",
                     money(cost_of(setting.pool, RANDOM, setting.budget))])
    for strategy in result.strategies:
        c = strategy.comparison
        ci = f"[{fmt(c.ci_low, d)}, {fmt(c.ci_high, d)}]" if c and c.ci_low is not None else "no per-prompt scores"
        rows.append([strategy.strategy, str(len(strategy.values)), fmt(strategy.value, d),
                     f"{fmt(c.difference, d):} vs {c.baseline}" if c else "no random seeds", ci if c else "",
                     ("paired" if c.paired else "unpaired") + f", {c.prompts} prompts" if c else "",
                     fmt(c.percentile, 0) if c and c.percentile is not None else "",
                     c.verdict if c else "", money(cost_of(setting.pool, strategy.strategy, setting.budget))])
    return Table(setting.label, ["strategy", "seeds", "value", "difference", "95% CI", "prompts",
                                 "percentile among random", "verdict", "selection cost"], rows)


def _csv_rows(results: list[SettingResult], cost_of) -> list[dict]:
    out = []
    for result in results:
        s = result.setting
        common = {"pool": s.pool, "budget": "" if s.budget is None else s.budget, "benchmark": s.benchmark,
                  "metric": s.metric, "primary": int(s.primary), "random_mean": fmt6(result.random_mean),
                  "random_std": fmt6(result.random_std), "random_seeds": len(result.random_values)}
        for seed, value in sorted(result.random_values.items(), key=lambda kv: (kv[0] is None, kv[0] or 0)):
            out.append({**common, "strategy": RANDOM, "seed": "" if seed is None else seed, "value": fmt6(value),
                        "strategy_value": fmt6(result.random_mean),
                        "selection_cost_usd": fmt6(cost_of(s.pool, RANDOM, s.budget))})
        for strategy in result.strategies:
            c = strategy.comparison
            extra = {} if c is None else {
                "difference": fmt6(c.difference), "ci_low": fmt6(c.ci_low), "ci_high": fmt6(c.ci_high),
                "baseline": c.baseline, "paired": int(c.paired), "prompts": c.prompts,
                "percentile_among_random": fmt6(c.percentile), "verdict": c.verdict}
            for seed, value in sorted(strategy.values.items(), key=lambda kv: (kv[0] is None, kv[0] or 0)):
                out.append({**common, **extra, "strategy": strategy.strategy, "seed": "" if seed is None else seed,
                            "value": fmt6(value), "strategy_value": fmt6(strategy.value),
                            "selection_cost_usd": fmt6(cost_of(s.pool, strategy.strategy, s.budget))})
    return out


def fmt6(value: float | None) -> str:
    return "" if value is None else f"{value:.6f}"


def _generalisation_tables(gen: Generalisation, results: list[SettingResult]) -> list[Table]:
    counts = Table("How often each strategy beats random (primary metric of each benchmark)",
                   ["strategy", BETTER, TIE, WORSE, "settings"],
                   [[name, str(t[BETTER]), str(t[TIE]), str(t[WORSE]), str(sum(t.values()))]
                    for name, t in gen.counts.items()])
    verdicts = {(r.setting.label, s.strategy): s.comparison.verdict for r in results for s in r.strategies
                if s.comparison}
    best = Table("Best strategy in each setting", ["setting", "best", "its verdict against random"],
                 [[label, name, verdicts.get((label, name), "(random itself)" if name == RANDOM else "")]
                  for label, name in gen.best])
    return [counts, best]


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
    rows = [[("targeted" if name in targeted else "untargeted"), name, str(t[BETTER]), str(t[TIE]), str(t[WORSE])]
            for name, t in sorted(gen.counts.items(), key=lambda kv: (kv[0] in targeted, kv[0]))]
    section.tables.append(Table("Beats random, by kind of strategy", ["kind", "strategy", BETTER, TIE, WORSE], rows))
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
            lines += [f"**{table.title}**", "", "| " + " | ".join(table.headers) + " |",
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
                cells = "".join(f'<td class="{c}">{html.escape(c)}</td>' if c in (BETTER, WORSE)
                                else f"<td>{html.escape(c)}</td>" for c in row)
                rows.append(f"<tr>{cells}</tr>")
            body.append(f"<h3>{html.escape(table.title)}</h3><table><thead><tr>{head}</tr></thead>"
                        f"<tbody>{''.join(rows)}</tbody></table>")
    return (f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title>"
            f"<style>{CSS}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n")


def build_report(run_dir: str | Path, *, resamples: int = 2000, confidence: float = 0.95, seed: int = 0) -> Report:
    """Analyse a run folder and write every report file into it."""
    run = RunResults.load(run_dir)
    run_dir = run.run_dir
    results = analyse(run.evaluations, resamples=resamples, confidence=confidence, seed=seed)
    model = CostModel(run.costs, run.config.prices, run.subsets, run.resolve)

    def cost_of(pool: str, strategy: str, budget: int | None) -> float:
        if strategy == FULL:
            return model.full_finetune(pool)[0] or 0.0
        return model.selection(pool, strategy, budget).dollars

    gen = generalisation(results)
    figures = []
    by_panel: dict[tuple, list[SettingResult]] = defaultdict(list)
    for result in results:
        if result.setting.primary:
            by_panel[(result.setting.pool, result.setting.budget)].append(result)
    for (pool, budget), panel in by_panel.items():
        names = {RANDOM} | {s.strategy for r in panel for s in r.strategies}
        costs = {name: cost_of(pool, name, budget) for name in sorted(names)}
        label = "full" if budget is None else str(budget)
        figures.append(figure1(panel, costs, f"{pool}-{label}", run_dir / "figures" / f"figure1_{pool}_{label}.png"))

    sections = [
        Section("Figure 1: metric against selection cost", ["One panel per benchmark; the red star is the best "
                "value in the panel; random is its seeds' mean with their range as a bar."], images=figures),
        Section("Does any strategy generalise?", [f"A strategy beats random in a setting when the {confidence:.0%} "
                f"bootstrap interval ({resamples} resamples over prompts) of its difference from random excludes 0."],
                _generalisation_tables(gen, results)),
        Section("Every setting against random", [
            "Random: mean ± standard deviation over seeds and their range. Difference: strategy minus the random "
            "mean (or minus the fixed reference, e.g. 50 for win rates against the random mixture); paired "
            "intervals resample the same prompt indices on both sides, the random side being the mean over "
            "seeds of the per-prompt scores."], [_setting_table(r, cost_of) for r in results]),
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
    return Report(page, markdown, table, figures, gen, results)
