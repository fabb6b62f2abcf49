"""The README's quick-start table, computed by analysis.stats from the per-run accuracies in results/quickstart.

    .venv/bin/python -m analysis.quickstart            # prints the table the README shows

results/quickstart/comparison.md lists every run's final top-1 to two decimals; on `data=digits` an accuracy is
100·k/360 (k test images right), so the two decimals give k, hence the exact value. From those values this module
ranks the settings (mean final top-1), with each one's 95 % t-interval (analysis.stats.spread, clamped to [0, 100])
and the paired t-test against the best row, Holm-adjusted over every pair of rows
(analysis.stats.tests_against_best): the columns the README shows, computed by the same
functions scripts/compare_runs.py uses, so the README cannot keep a number the code no longer produces
(tests/project/test_docs.py compares them).
"""
from __future__ import annotations

import re
from pathlib import Path

from analysis import stats
from analysis.verdict import p_text

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "results" / "quickstart" / "comparison.md"
TEST_IMAGES = 360  # conf/data/digits.yaml data.dataset.test_size: accuracies are multiples of 100/360
HEADER = "| rank | setting | final top-1 ({n} seeds) | 95% CI | vs best (paired t, Holm) |\n|---|---|---|---|---|"


def run_accuracies(comparison_md: Path = RESULTS, test_images: int = TEST_IMAGES) -> dict[str, dict[int, float]]:
    """{setting: {seed: final top-1}} from the `## Runs` table of a comparison.md, snapped to the test set's counts."""
    runs_table = comparison_md.read_text().split("## Runs", 1)[1]
    values: dict[str, dict[int, float]] = {}
    for line in runs_table.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) > 4 and cells[2] == "completed" and re.fullmatch(r"\d+", cells[3]):
            right = round(float(cells[4]) * test_images / 100)  # the number of test images classified right
            values.setdefault(cells[1], {})[int(cells[3])] = 100 * right / test_images
    return values


def readme_table(values: dict[str, dict[int, float]]) -> str:
    """The README's markdown table: rank, setting, mean ± std, 95 % CI, paired t-test vs the best (Holm)."""
    spreads = {name: stats.spread(list(seeds.values())) for name, seeds in values.items()}
    order = sorted(values, key=lambda name: -spreads[name].mean)
    best = order[0]
    _, adjusted_p = stats.tests_against_best([values[name] for name in order])  # the comparison's own tests
    adjusted = dict(zip(order, adjusted_p))
    lines = [HEADER.format(n=max(s.n for s in spreads.values()))]
    for rank, name in enumerate(order, 1):
        s = spreads[name]
        versus = "best" if name == best else p_text(adjusted[name])
        lines.append(f"| {rank} | {name} | {s.mean:.2f} ± {s.std:.2f} | [{s.ci_low:.2f}, {s.ci_high:.2f}] | {versus} |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(readme_table(run_accuracies()))
