"""The study's Figure 1 for one (pool, budget): one panel per benchmark, metric against the dollar
cost of selection on a log axis (zero cost drawn at a labelled floor), the best marked with a star."""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import FuncFormatter  # noqa: E402

from chasing_random.analysis.compare import SettingResult  # noqa: E402
from chasing_random.results import FULL, RANDOM  # noqa: E402


def cost_floor(costs: list[float]) -> float:
    """Where $0 is drawn on the log axis: a decade below the cheapest positive cost (or $0.001)."""
    positive = [c for c in costs if c > 0]
    return 10 ** (math.floor(math.log10(min(positive))) - 1) if positive else 1e-3


def figure1(results: list[SettingResult], costs: dict[str, float], title: str, out: Path) -> Path:
    """Draw the panels of ``results`` (one setting per benchmark) to ``out`` (PNG); ``costs`` maps a
    strategy (and ``random``) to its selection cost; ``full`` is placed at its fine-tuning cost."""
    columns = min(2, len(results))
    rows = math.ceil(len(results) / columns)
    fig, axes = plt.subplots(rows, columns, figsize=(6.2 * columns, 4.8 * rows), squeeze=False)
    floor = cost_floor(list(costs.values()))
    for ax, result in zip(axes.flat, results):
        points = []
        if result.random_values:
            points.append((RANDOM, result.random_mean, min(result.random_values.values()),
                           max(result.random_values.values())))
        points += [(s.strategy, s.value, None, None) for s in result.strategies]
        best = result.best
        labels: dict[tuple[float, float], list[str]] = {}
        for name, value, low, high in points:
            x = max(costs.get(name, 0.0), floor)
            if low is not None:
                ax.errorbar([x], [value], yerr=[[value - low], [high - value]], fmt="none", ecolor="#7a4a3a",
                            capsize=4, lw=1.2)
            marker, size, color = (("*", 260, "#d62728") if name == best else ("D", 70, "#666666") if name == RANDOM
                                   else ("o", 90, "#8c3b2c"))
            ax.scatter([x], [value], marker=marker, s=size, c=color, edgecolors="black", linewidths=0.7, zorder=3)
            labels.setdefault((x, value), []).append(name + (" (fine-tuning cost)" if name == FULL else ""))
        for (x, value), names in labels.items():  # points that coincide share one label
            ax.annotate(", ".join(names), (x, value), xytext=(7, 5), textcoords="offset points", fontsize=9,
                        bbox={"boxstyle": "round,pad=0.2", "fc": "white", "ec": "none", "alpha": 0.75})
        reference = next((s.comparison.baseline for s in result.strategies
                          if s.comparison and s.comparison.baseline.startswith("reference")), None)
        if reference:
            ax.axhline(float(reference.split()[1]), color="gray", ls="--", lw=1, label=reference)
        elif result.random_values:
            ax.axhline(result.random_mean, color="gray", ls=":", lw=1, label="random mean (bar: seed range)")
        ax.scatter([], [], marker="*", s=160, c="#d62728", edgecolors="black", label=f"best: {best}")
        ax.set_xscale("log")
        ax.set_xlim(floor / 2.5, max(max(costs.values(), default=floor) * 3, floor * 30))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda tick, _: "$0" if math.isclose(tick, floor) else f"${tick:g}"))
        ax.set_title(f"{result.setting.benchmark}", fontsize=12)
        ax.set_ylabel(result.setting.metric)
        ax.set_xlabel("dollar cost of selection (log scale; $0 drawn at the left tick)")
        ax.grid(True, which="major", alpha=0.3)
        ax.set_facecolor("#fdf3e7")
        ax.legend(loc="best", fontsize=8, framealpha=0.85)
    for ax in list(axes.flat)[len(results):]:
        ax.set_visible(False)
    fig.suptitle(title, fontsize=14)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110, metadata={"Software": None})
    plt.close(fig)
    return out
