"""The study's Figure 1 as a table, one per (pool, budget): rows = random and the strategies, columns =
AlpacaEval win rate vs random, Open LLM accuracy, LLMBar accuracy, IFEval accuracy and the dollar cost of
selection (LIMA and InFoBench columns join when the run has them). A missing value is shown as "—"."""

from __future__ import annotations

from dataclasses import dataclass

from chasing_random.analysis.compare import SettingResult
from chasing_random.benchmarks import UNITS
from chasing_random.results import FULL, RANDOM

MISSING = "—"
# (column header, benchmark name in the results files before any ":"), in the study's order.
STUDY_COLUMNS = (("AlpacaEval win rate vs random", "alpaca_eval_pairwise"), ("Open LLM accuracy", "harness"),
                 ("LLMBar accuracy", "llmbar"), ("IFEval accuracy", "ifeval"))
OPTIONAL_COLUMNS = (("LIMA win rate vs random", "lima_pairwise"), ("InFoBench DRFR", "infobench"))


def column_of(benchmark: str) -> str:
    """The study column a results-file benchmark name belongs to (``harness:openllm-study`` -> harness)."""
    return benchmark.split(":", 1)[0]


def panel_order(benchmark: str) -> int:
    """Figure 1's panel order: the study's four benchmarks first, then the optional ones, then the rest."""
    names = [name for _, name in STUDY_COLUMNS + OPTIONAL_COLUMNS]
    base = column_of(benchmark)
    return names.index(base) if base in names else len(names)


@dataclass
class StudyTable:
    """One (pool, budget) table: headers and rows of formatted cells."""

    pool: str
    budget: int | None
    headers: list[str]
    rows: list[list[str]]

    @property
    def title(self) -> str:
        return f"{self.pool} / {'full' if self.budget is None else self.budget}: the study's Figure 1 as a table"


def study_tables(results: list[SettingResult], cost_of, money) -> list[StudyTable]:
    """A table per (pool, budget) from the primary setting of each benchmark. ``cost_of(pool, strategy,
    budget)`` prices a selection; ``money`` formats dollars. Random's cells are its seeds' mean."""
    by_panel: dict[tuple, dict[str, SettingResult]] = {}
    for result in results:
        s = result.setting
        if s.primary:
            by_panel.setdefault((s.pool, s.budget), {}).setdefault(column_of(s.benchmark), result)
    tables = []
    for (pool, budget), columns in sorted(by_panel.items(), key=lambda kv: (kv[0][0], kv[0][1] or 0)):
        present = [c for c in OPTIONAL_COLUMNS if c[1] in columns]
        wanted = list(STUDY_COLUMNS) + present
        strategies = sorted({s.strategy for r in columns.values() for s in r.strategies} - {RANDOM},
                            key=lambda name: (name == FULL, name))
        rows = []
        for name in [RANDOM, *strategies]:
            cells = [name]
            for _, bench in wanted:
                result = columns.get(bench)
                value = None
                if result is not None and name == RANDOM:
                    value = result.random_mean
                elif result is not None:
                    value = next((s.value for s in result.strategies if s.strategy == name), None)
                digits = UNITS[result.setting.unit].digits if result is not None else 0
                cells.append(MISSING if value is None else f"{value:.{digits}f}")
            cells.append(money(cost_of(pool, name, budget)))
            rows.append(cells)
        tables.append(StudyTable(pool, budget, ["strategy", *(h for h, _ in wanted), "selection $"], rows))
    return tables
