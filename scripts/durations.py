"""Where the test suite's time goes: reads the output of `pytest --durations=0` and prints, as markdown, the
slowest lines and the seconds by kind of test (docs/testing.md holds what it printed).

    .venv/bin/python -m pytest -q -n 2 --durations=0 -p no:cacheprovider > /tmp/after.txt 2>&1
    .venv/bin/python scripts/durations.py /tmp/after.txt --top 25
"""
from __future__ import annotations

import argparse
import re
import sys
from collections import defaultdict
from pathlib import Path
from typing import Optional

DURATION = re.compile(r"^(\d+(?:\.\d+)?)s (setup|call|teardown)\s+(\S+)")
CLOSING = re.compile(r"^=*\s*(\d+ (?:passed|failed)\b.*?) in ([\d.]+)s")  # framed by ===, or bare under -q
# (kind, test files: a path prefix or a path::test name prefix), first match wins
KINDS = (
    ("Slurm (local cluster)", ("tests/runs/test_slurm.py",)),
    ("browser (headless Chromium)", ("tests/explorer/test_explore_browser.py",
                                     "tests/analysis/test_study.py::test_the_report_page_renders")),
    ("study (scripts/study.py)", ("tests/analysis/test_study.py",)),
    ("subprocess train.py runs", ("tests/runs/",)),
    ("explorer AppTest", ("tests/explorer/",)),
    ("parametrised schedule checks", ("tests/schedulers/",)),
    ("training a step in-process (engine, models, optimizers)", ("tests/engine/training/", "tests/engine/config/test_config.py",
                                                                  "tests/models/", "tests/optimizers/")),
    ("scripts (bench, setup, plot)", ("tests/scripts/",)),
    ("docs and layering checks", ("tests/project/",)),
)
OTHER = "everything else"


def kind_of(test_id: str) -> str:
    for kind, prefixes in KINDS:
        if test_id.startswith(prefixes):
            return kind
    return OTHER


def read(text: str) -> tuple[list[tuple[float, str, str]], Optional[tuple[str, float]]]:
    """(seconds, phase, test id) of every duration line, and (pytest's closing counts, wall seconds)."""
    lines, closing = [], None
    for line in text.splitlines():
        if match := DURATION.match(line):
            lines.append((float(match.group(1)), match.group(2), match.group(3).split("@")[0]))  # xdist's @group
        elif match := CLOSING.match(line):
            closing = (match.group(1), float(match.group(2)))
    return lines, closing


def report(lines: list, closing: Optional[tuple], top: int) -> str:
    by_kind, tests = defaultdict(float), defaultdict(set)
    for seconds, _, test_id in lines:
        by_kind[kind_of(test_id)] += seconds
        tests[kind_of(test_id)].add(test_id)
    total = sum(by_kind.values())
    out = [f"Slowest {top} of {len(lines)} setup/call/teardown lines:", "", "```"]
    out += [f"{seconds:8.2f}s {phase:<8} {test_id}" for seconds, phase, test_id in sorted(lines, reverse=True)[:top]]
    out += ["```", "", "| kind | tests | seconds | share |", "| --- | ---: | ---: | ---: |"]
    for kind, seconds in sorted(by_kind.items(), key=lambda kv: -kv[1]):
        out.append(f"| {kind} | {len(tests[kind])} | {seconds:.0f} | {100 * seconds / total:.0f}% |")
    out.append(f"| **sum of test durations** | {len({t for _, _, t in lines})} | {total:.0f} | 100% |")
    if closing:
        out += ["", f"pytest: {closing[0]} in {closing[1]:.0f} s of wall time ({closing[1] / 60:.1f} min)."]
    return "\n".join(out)


def main(argv: Optional[list] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("output", type=Path, help="a file holding what `pytest --durations=0` printed")
    parser.add_argument("--top", type=int, default=25, help="how many of the slowest lines to show (default 25)")
    args = parser.parse_args(argv)
    if not args.output.is_file():
        print(f"durations: {args.output} is not a file: pass the file pytest's output was saved to", file=sys.stderr)
        return 2
    lines, closing = read(args.output.read_text(errors="replace"))
    if not lines:
        print(f"durations: {args.output} has no `--durations=0` lines: run pytest with --durations=0 and pass its output",
              file=sys.stderr)
        return 2
    print(report(lines, closing, args.top))
    return 0


if __name__ == "__main__":
    sys.exit(main())
