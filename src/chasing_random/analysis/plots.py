"""The study's Figure 1 for one (pool, budget): one panel per benchmark, metric against the dollar cost
of selection on a log axis, each strategy with its two-level interval, the band where 95% of random
runs fall, and a star only on a best that beats random. Plus a forest plot of effects per benchmark."""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.ticker import FuncFormatter  # noqa: E402
from scipy import stats  # noqa: E402

from chasing_random.analysis.compare import SettingResult  # noqa: E402
from chasing_random.results import FULL, RANDOM  # noqa: E402
from chasing_random.store import atomic_path  # noqa: E402
from chasing_random.analysis.twolevel import BETTER, WORSE  # noqa: E402

COLORS = {BETTER: "#1a7f37", WORSE: "#c62828"}
LABEL_GAP = 0.075  # smallest vertical distance between two labels, in axes fraction


def cost_floor(costs: list[float]) -> float:
    """Where $0 is drawn on the log axis: a decade below the cheapest positive cost (or $0.001)."""
    positive = [c for c in costs if c > 0]
    return 10 ** (math.floor(math.log10(min(positive))) - 1) if positive else 1e-3


def random_band(result: SettingResult, draws: int = 1, confidence: float = 0.95) -> float | None:
    """Half-width of the band where a mean of ``draws`` random runs falls around the random mean:
    t x run SD x sqrt(1/draws + 1/R) (a prediction interval; None without a run variance)."""
    if result.run_sd is None or not result.random_values:
        return None
    t = float(stats.t(result.run_var.df).ppf(1 - (1 - confidence) / 2))
    return t * result.run_sd * math.sqrt(1 / draws + 1 / len(result.random_values))


def spread_labels(positions: list[float], gap: float = LABEL_GAP) -> list[float]:
    """Label heights (axes fraction) in the order given, nudged apart by at least ``gap`` and kept in [0, 1]."""
    order = np.argsort(positions, kind="stable")
    placed = np.array(positions, float)[order]
    for i in range(1, len(placed)):
        placed[i] = max(placed[i], placed[i - 1] + gap)
    overflow = placed[-1] - 0.97 if len(placed) else 0
    if overflow > 0:
        placed -= overflow
        for i in range(len(placed) - 2, -1, -1):
            placed[i] = min(placed[i], placed[i + 1] - gap)
    out = np.empty_like(placed)
    out[order] = placed
    return out.tolist()


def _points(result: SettingResult) -> list[tuple[str, float, float | None, float | None, str]]:
    """(name, value, interval low, interval high, verdict) of random and every strategy."""
    points = []
    if result.random_values:
        points.append((RANDOM, result.random_mean, None, None, ""))
    for s in result.strategies:
        c = s.comparison
        low = high = None
        if c is not None and c.ci_low is not None:
            low, high = s.value - (c.difference - c.ci_low), s.value + (c.ci_high - c.difference)
        points.append((s.strategy, s.value, low, high, c.verdict if c else ""))
    return points


def _panel(ax, result: SettingResult, costs: dict[str, float], floor: float) -> None:
    scale = result.spec.points
    points = _points(result)
    band = random_band(result)
    if band is not None:
        mean = scale * result.random_mean
        ax.axhspan(mean - scale * band, mean + scale * band, color="#bbbbbb", alpha=0.35, lw=0,
                   label="where 95% of single random runs fall")
        ax.axhline(mean, color="gray", ls=":", lw=1)
    best = result.distinguishable_best
    for name, value, low, high, verdict in points:
        x = max(costs.get(name, 0.0), floor)
        color = COLORS.get(verdict, "#555555")
        if low is not None:
            ax.errorbar([x], [scale * value], yerr=[[scale * (value - low)], [scale * (high - value)]], fmt="none",
                        ecolor=color, capsize=4, lw=1.3)
        marker, size = ("*", 280) if name == best else ("D", 60) if name == RANDOM else ("o", 70)
        ax.scatter([x], [scale * value], marker=marker, s=size, c=color, edgecolors="black", linewidths=0.6, zorder=3)
    values = [scale * v for _, v, lo, hi, _ in points for v in (v, lo, hi) if v is not None]
    if band is not None:
        values += [scale * (result.random_mean - band), scale * (result.random_mean + band)]
    low, high = min(values), max(values)
    pad = max((high - low) * 0.12, 1.0)  # at least a point: flat panels (all 0) get a real axis
    ax.set_ylim(low - pad, high + pad)
    ax.yaxis.get_major_formatter().set_useOffset(False)
    heights = [(scale * v - (low - pad)) / (high - low + 2 * pad) for _, v, *_ in points]
    for (name, value, *_), height in zip(points, spread_labels(heights)):
        x = max(costs.get(name, 0.0), floor)
        ax.annotate(name + (" (fine-tuning cost)" if name == FULL else ""), (x, scale * value),
                    xytext=(x * 1.6, height), textcoords=ax.get_xaxis_transform(), fontsize=8.5, va="center",
                    arrowprops={"arrowstyle": "-", "color": "#999999", "lw": 0.6},
                    bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.8})
    ax.scatter([], [], marker="*", s=140, c=COLORS[BETTER], edgecolors="black",
               label=f"best, beats random: {best}" if best else "no strategy beats random")
    ax.set_xscale("log")
    ax.set_xlim(floor / 2.5, max(max(costs.values(), default=floor) * 12, floor * 100))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda tick, _: "$0" if math.isclose(tick, floor) else f"${tick:g}"))
    ax.set_title(result.setting.benchmark, fontsize=12)
    ax.set_ylabel(f"{result.setting.metric} (%)")
    ax.set_xlabel("dollar cost of selection (log scale; $0 drawn at the left tick)")
    ax.grid(True, which="major", alpha=0.3)
    ax.set_facecolor("#fdf3e7")
    ax.legend(loc="lower right", fontsize=7.5, framealpha=0.85)


def figure1(results: list[SettingResult], costs: dict[str, float], title: str, out: Path) -> Path:
    """Draw the panels of ``results`` (one setting per benchmark) to ``out`` (PNG); ``costs`` maps a
    strategy (and ``random``) to its selection cost; ``full`` is placed at its fine-tuning cost."""
    columns = min(2, len(results))
    rows = math.ceil(len(results) / columns)
    fig, axes = plt.subplots(rows, columns, figsize=(6.6 * columns, 5.0 * rows), squeeze=False)
    floor = cost_floor(list(costs.values()))
    for ax, result in zip(axes.flat, results):
        _panel(ax, result, costs, floor)
    for ax in list(axes.flat)[len(results):]:
        ax.set_visible(False)
    fig.suptitle(f"{title}: bars = two-level 95% intervals; colour = verdict (green better, red worse)", fontsize=11)
    fig.tight_layout()
    return _save(fig, out)


def forest(results: list[SettingResult], title: str, out: Path) -> Path:
    """Each strategy's difference from random (percentage points) with its interval, per setting,
    against the band where a single random run's difference falls and the equivalence margin."""
    rows = [(r, s) for r in results for s in r.strategies if s.comparison is not None]
    fig, ax = plt.subplots(figsize=(8.5, 1.2 + 0.32 * max(len(rows), 1)))
    labels = []
    for y, (result, strategy) in enumerate(reversed(rows)):
        c, scale = strategy.comparison, result.spec.points
        band = random_band(result)
        if band is not None:
            ax.fill_betweenx([y - 0.45, y + 0.45], -scale * band, scale * band, color="#bbbbbb", alpha=0.4, lw=0)
        ax.plot([-scale * c.margin, -scale * c.margin], [y - 0.45, y + 0.45], color="#4a6fa5", lw=0.8, ls="--")
        ax.plot([scale * c.margin, scale * c.margin], [y - 0.45, y + 0.45], color="#4a6fa5", lw=0.8, ls="--")
        color = COLORS.get(c.verdict, "#555555")
        if c.ci_low is not None:
            ax.plot([scale * c.ci_low, scale * c.ci_high], [y, y], color=color, lw=2)
        ax.scatter([scale * c.difference], [y], color=color, edgecolors="black", s=30, zorder=3)
        budget = result.setting.budget if result.setting.budget is not None else "full"
        labels.append(f"{result.setting.pool}/{budget}  {strategy.strategy} ({c.verdict})")
    ax.axvline(0, color="black", lw=0.8)
    ax.set_yticks(range(len(labels)), labels, fontsize=8)
    ax.set_ylim(-0.8, max(len(labels), 1) - 0.2)
    ax.set_xlabel("difference from random (percentage points)", fontsize=9)
    ax.xaxis.get_major_formatter().set_useOffset(False)
    ax.grid(True, axis="x", alpha=0.3)
    ax.set_title(f"{title}\ngrey: where 95% of single random runs fall; dashed: equivalence margin", fontsize=10)
    fig.tight_layout()
    return _save(fig, out)


def _save(fig, out: Path) -> Path:
    with atomic_path(out) as tmp:
        fig.savefig(tmp, format="png", dpi=100, metadata={"Software": None})
    plt.close(fig)
    return out
