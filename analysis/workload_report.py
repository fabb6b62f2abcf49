"""The scores and the report of a study over workloads (analysis.workload_study): steps to each workload's target,
performance profiles, the AlgoPerf benchmark score, speedups against the baseline, Kendall tau between the studies'
rankings, the per-workload and the cross-workload verdicts, accuracy against budget, and one HTML page.

Written into <dir>/report/ (or --report): workloads.md, workloads.json (every number the page draws), profile.png,
budgets.png (with --budgets) and report.html (inline SVG, no network). Each study keeps its own report in
<dir>/<workload>/[budget=<b>/]study<s>/report/ (the comparison of its seeds: paired tests, Holm, power).
"""
from __future__ import annotations

import html
import io
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from analysis import profiles, stats
from analysis.comparison.runs import recorded_provenance
from analysis.study_figures import pyplot, schedule_colors, unify
from analysis.study_report import environment_text
from common.files import atomic_save_figure, atomic_write_text
from engine.run_dir.status import RunStatus
from engine.run_dir.summary import read_summary, run_dirs_with_summary

TAUS = [1 + 3 * i / 300 for i in range(301)]  # the profile's grid over [1, 4]


@dataclass
class Instance:
    """One scored unit (a workload, or a workload at a budget) and what its S studies measured."""

    name: str
    workload: str
    budget: Optional[int]
    target: float
    held_out: bool
    steps: dict = field(default_factory=dict)  # schedule -> median over studies of the median over seeds (inf: never)
    final_test: dict = field(default_factory=dict)  # schedule -> stats.Spread of final test top-1 over every seed run
    best_test: dict = field(default_factory=dict)  # schedule -> stats.Spread of each run's best-epoch test top-1
    winners: list = field(default_factory=list)  # per study: the schedule its verdict names, or None
    rankings: list = field(default_factory=list)  # per study: {schedule: mean test top-1}
    taus: list = field(default_factory=list)  # Kendall tau per pair of studies

    @property
    def verdict(self) -> str:
        named = set(self.winners)
        if len(named) == 1 and None not in named:
            return f"{self.winners[0]} (named by all {len(self.winners)} studies)"
        if named == {None}:
            return "no clear winner"
        return "not replicated: the studies name " + ", ".join(w or "no winner" for w in self.winners)

    @property
    def winner(self) -> Optional[str]:
        return self.winners[0] if len(set(self.winners)) == 1 else None


def held_out(workload: str) -> bool:
    """Whether conf/workload/<workload>.yaml says it is a held-out variant (in its second line)."""
    path = Path(__file__).resolve().parents[1] / "conf" / "workload" / f"{workload}.yaml"
    lines = path.read_text().splitlines() if path.is_file() else []
    return len(lines) > 1 and "held-out" in lines[1]


def _seed_summaries(member, schedule: str) -> list:
    root = Path(member.spec.study_dir) / "seeds" / schedule
    found = [read_summary(d) for d in sorted(root.glob("seed=*"))]
    return [s for s in found if s and s.get("status") in (RunStatus.COMPLETED, RunStatus.DIVERGED)]


def _steps_of(summary: dict, target: float) -> float:
    history = (summary.get("history") or {}).get("val/acc1") or []
    per_epoch = summary["global_step"] / summary["epochs"] if summary.get("epochs") else 0
    if summary.get("status") != RunStatus.COMPLETED:
        return math.inf
    return profiles.steps_to_target(history, target, per_epoch, summary.get("val_acc1_by_step"))


def score_instance(name: str, group: list, schedules: list, target: float) -> Instance:
    """Steps to target, test accuracy, the studies' winners and rankings, from the study directories of `group`."""
    first = group[0]
    found = Instance(name, first.workload, first.budget, target, held_out(first.workload))
    per_study_steps: dict = {s: [] for s in schedules}
    finals: dict = {s: [] for s in schedules}
    bests: dict = {s: [] for s in schedules}
    for member in group:
        ranking = {}
        for schedule in schedules:
            runs = _seed_summaries(member, schedule)
            per_study_steps[schedule].append(profiles.median([_steps_of(r, target) for r in runs]))
            tests = [r["test_acc1"] for r in runs if isinstance(r.get("test_acc1"), (int, float))]
            finals[schedule] += tests
            bests[schedule] += [max((r.get("history") or {}).get("test/acc1") or [math.nan]) for r in runs if r.get("test_acc1") is not None]
            if tests:
                ranking[schedule] = sum(tests) / len(tests)
        found.rankings.append(ranking)
        repro = Path(member.spec.report_dir or Path(member.spec.study_dir) / "report") / "reproduction.json"
        winner = json.loads(repro.read_text()).get("winner") if repro.is_file() else None
        found.winners.append(winner.split(",")[0] if winner else None)
    found.steps = {s: profiles.median(v) for s, v in per_study_steps.items()}
    found.final_test = {s: stats.spread(v) for s, v in finals.items()}
    found.best_test = {s: stats.spread(v) for s, v in bests.items()}
    found.taus = profiles.kendall_taus(found.rankings)
    return found


def scores(instances: list, schedules: list, baseline: str) -> dict:
    steps = {i.name: i.steps for i in instances}
    ratios = profiles.performance_ratios(steps)
    return {"ratios": ratios, "profiles": {s: profiles.profile(ratios[s], TAUS) for s in schedules},
            "score": {s: profiles.benchmark_score(ratios[s]) for s in schedules},
            "speedup": {s: profiles.geometric_mean_speedup(steps, s, baseline) for s in schedules if s != baseline}}


def overall_verdict(instances: list, score: dict) -> str:
    """A schedule is better across the suite only when it has the top benchmark score alone and every workload's own
    tests (replicated over the studies) name it; otherwise the answer depends on the workload."""
    top = max(score.values())
    leaders = [s for s, b in score.items() if b == top]
    named = [i.winner for i in instances]
    if len(leaders) == 1 and all(w == leaders[0] for w in named):
        return (f"**{leaders[0]} is better across these workloads**: the top benchmark score ({top:.3f}) and every "
                f"workload's own paired tests name it, in every study.")
    if all(w is None for w in named):
        return (f"**No clear winner on any workload**: no workload's tests name a winner in all its studies. The profile "
                f"score leads with {', '.join(leaders)} ({top:.3f}), which alone decides nothing.")
    return (f"**It depends on the workload**: the per-workload tests name {', '.join(f'{i.name}: {i.winner or chr(8212)}' for i in instances)}, "
            f"and the top benchmark score is {', '.join(leaders)} ({top:.3f}); they do not agree on one schedule (table below).")


def profile_figure(score: dict, schedules: list, colors: dict):
    import matplotlib

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    for schedule in schedules:
        with matplotlib.rc_context({"path.simplify": False}):  # every point of the grid drawn: the page's data
            line, = ax.plot(TAUS, score["profiles"][schedule], color=colors[schedule], drawstyle="steps-post",
                            label=f"{schedule} (B = {score['score'][schedule]:.3f})")
        line.set_gid(f"profile-{schedule}")
    ax.set(xlabel="tau: steps to target within tau x the fastest schedule's", ylabel="share of workloads  rho(tau)",
           title="Performance profiles (steps to the validation target)", xlim=(1, 4), ylim=(-0.03, 1.03))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    unify(fig, colors)
    return fig


def budgets_figure(instances: list, schedules: list, colors: dict):
    """Final test top-1 against the budget, per workload, mean over every seed run of the S studies with its 95 % CI."""
    plt = pyplot()
    workloads = list(dict.fromkeys(i.workload for i in instances))
    fig, axes = plt.subplots(1, len(workloads), figsize=(4 * len(workloads), 3.6), squeeze=False)
    for ax, workload in zip(axes[0], workloads):
        mine = sorted((i for i in instances if i.workload == workload), key=lambda i: i.budget)
        for schedule in schedules:
            points = [(i.budget, i.final_test[schedule]) for i in mine if i.final_test[schedule].n]
            if not points:
                continue
            line, = ax.plot([b for b, _ in points], [s.mean for b, s in points], "o-", color=colors[schedule], label=schedule)
            line.set_gid(f"budget-{schedule}-{workload}")
            ax.fill_between([b for b, _ in points], [s.ci_low if s.ci_low is not None else s.mean for _, s in points],
                            [s.ci_high if s.ci_high is not None else s.mean for _, s in points], color=colors[schedule], alpha=0.15)
        ax.set(title=workload, xlabel="budget (epochs)", ylabel="test top-1 (%)")
        ax.set_xscale("log", base=2)
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=7)
    return fig


def compute_spent(study_dir: Path) -> dict:
    """The suite's runs counted, their training wall time and steps, and where they ran (backend, CPU, threads)."""
    dirs = run_dirs_with_summary(Path(study_dir))
    runs = [read_summary(d) or {} for d in dirs]
    backends = sorted({f"{r.get('backend') or 'oneflow'} {r.get('backend_version') or ''}".strip() for r in runs})
    environment = next((facts for facts in map(recorded_provenance, dirs) if facts.get("cpu_model")), {})
    return {"runs": len(runs), "train_seconds": round(sum(float(r.get("wall_time_s") or 0) for r in runs), 1),
            "optimizer_steps": sum(int(r.get("global_step") or 0) for r in runs), "backends": backends,
            "environment": environment}


def _fmt_steps(value: float) -> str:
    return "∞" if math.isinf(value) else f"{value:.0f}"


def evaluations(overrides: list) -> str:
    """Where the runs measured validation top-1: at epoch ends, and every N steps when the study set
    trainer.val_every_n_steps=N (the last such override wins, as on train.py's command line)."""
    every = [o.split("=", 1)[1] for o in overrides if o.lstrip("+").split("=", 1)[0] == "trainer.val_every_n_steps"]
    steps = int(every[-1]) if every and every[-1].isdigit() else 0
    return f"validation (every {steps} optimizer steps and at each epoch end)" if steps > 0 else "epoch end"


def markdown(suite, instances: list, score: dict, verdict: str, spent: dict, command: str) -> str:
    schedules, out = list(suite.schedules), io.StringIO()
    out.write(f"# Schedules across workloads: {', '.join(schedules)}\n\nMade by:\n\n```bash\n{command}\n```\n\n")
    out.write(f"**Verdict.** {verdict}\n\n")
    out.write(f"**Protocol.** {len(instances)} workload instance(s); per instance and schedule {suite.studies} studies "
              f"(search seeds 0..{suite.studies - 1}) of {suite.trials} quasi-random LR trials in [{suite.lr_low:g}, "
              f"{suite.lr_high:g}] scored on a validation split ({suite.val_split:g}), then {suite.seeds} seed run(s) at each "
              f"study's tuned LR, scored on the test set (AlgoPerf: 5 studies x 5 trials; reduced here to fit the machine). "
              f"Steps to target: the first {evaluations(suite.overrides)} whose validation top-1 reaches the workload's "
              f"target, median over a study's seeds, then median over the studies (∞: never). Baseline: {suite.baseline}.\n\n")
    out.write("## Per workload\n\n| workload | held out | target | " + " | ".join(f"{s} steps" for s in schedules) + " | "
              + " | ".join(f"{s} test top-1, final / best epoch" for s in schedules) + " | verdict | Kendall tau |\n|"
              + "---|" * (5 + 2 * len(schedules)) + "\n")
    for i in instances:
        steps = " | ".join(_fmt_steps(i.steps[s]) for s in schedules)
        tests = " | ".join("—" if not i.final_test[s].n else
                           f"{i.final_test[s].mean:.2f} / {i.best_test[s].mean:.2f} (n={i.final_test[s].n})" for s in schedules)
        finite = [t for t in i.taus if not math.isnan(t)]
        tau = "—" if not finite else f"{sum(finite) / len(finite):+.2f} (min {min(finite):+.2f})"
        out.write(f"| {i.name} | {'yes' if i.held_out else 'no'} | {i.target:g} % | {steps} | {tests} | {i.verdict} | {tau} |\n")
    out.write("\n## Scores\n\n![performance profiles](profile.png)\n\n| schedule | benchmark score B | workloads at ratio 1 | "
              f"geometric-mean speedup vs {suite.baseline} |\n|---|---|---|---|\n")
    for s in schedules:
        at_one = sum(r == 1.0 for r in score["ratios"][s].values())
        out.write(f"| {s} | {score['score'][s]:.3f} | {at_one}/{len(instances)} | {_speedup_text(score, s, suite.baseline)} |\n")
    out.write("\n## Replication\n\n" + "".join(f"- {i.name}: {profiles.stability_text(i.taus)}\n" for i in instances))
    if suite.budgets:
        out.write("\n## Budgets\n\n![accuracy against budget](budgets.png)\n\nEach schedule tuned at each budget (its own "
                  "search, selected on validation), scored on the test set: mean and 95 % CI over every seed run.\n")
    out.write(f"\n## Compute\n\n{spent['runs']} training runs, {spent['optimizer_steps']} optimizer steps, "
              f"{spent['train_seconds'] / 3600:.2f} h of training wall time (summed over the runs, however many ran at "
              f"once).\n\n**Where.** Backend {', '.join(spent['backends']) or 'unknown'}. {environment_text(spent['environment'])}\n")
    return out.getvalue()


def _speedup_text(score: dict, schedule: str, baseline: str) -> str:
    if schedule == baseline:
        return "baseline"
    value, left_out = score["speedup"][schedule]
    if value is None:
        return "— (no workload where both reached the target)"
    return f"{value:.2f}x" + (f" ({left_out} workload(s) left out: a target not reached)" if left_out else "")


def _svg(fig, name: str) -> str:
    import matplotlib

    buffer = io.StringIO()
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": name}):
        fig.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
    text = buffer.getvalue()
    return text[text.index("<svg"):]


def write(suite, all_members: list, targets: dict, command: Optional[str] = None) -> Path:
    """Every report file of the suite; returns report.html's path."""
    import markdown as md

    from analysis.study_report import STYLE

    out = Path(suite.report_dir or Path(suite.study_dir) / "report")
    schedules, colors = list(suite.schedules), schedule_colors(list(suite.schedules))
    names = list(dict.fromkeys(m.instance for m in all_members))
    instances = [score_instance(n, [m for m in all_members if m.instance == n], schedules, targets[n]) for n in names]
    score = scores(instances, schedules, suite.baseline)
    verdict, spent = overall_verdict(instances, score["score"]), compute_spent(Path(suite.study_dir))
    text = markdown(suite, instances, score, verdict, spent, command or suite_command(suite))
    figures = {"profile": profile_figure(score, schedules, colors)}
    if suite.budgets:
        figures["budgets"] = budgets_figure(instances, schedules, colors)
    out.mkdir(parents=True, exist_ok=True)
    svgs = {}
    for name, fig in figures.items():
        atomic_save_figure(fig, out / f"{name}.png", dpi=130, bbox_inches="tight")
        svgs[name] = _svg(fig, name)
        pyplot().close(fig)
    data = {"taus": TAUS, "profiles": score["profiles"], "score": score["score"], "verdict": verdict, "compute": spent,
            "colors": {s: __import__("matplotlib.colors").colors.to_hex(c) for s, c in colors.items()},
            "instances": [{"name": i.name, "target": i.target, "held_out": i.held_out, "verdict": i.verdict,
                           "steps": {s: (None if math.isinf(v) else v) for s, v in i.steps.items()},
                           "final_test": {s: sp.mean for s, sp in i.final_test.items()},
                           "best_test": {s: sp.mean for s, sp in i.best_test.items()}, "taus": i.taus} for i in instances]}
    atomic_write_text(out / "workloads.md", text)
    atomic_write_text(out / "workloads.json", json.dumps(data, indent=2, default=str) + "\n")
    body = md.markdown(text, extensions=["tables", "fenced_code"])
    for name, svg in svgs.items():  # the figures inline, where the markdown shows the PNGs
        body = body.replace(f'<img alt="{"performance profiles" if name == "profile" else "accuracy against budget"}" src="{name}.png" />',
                            f"<figure id='{name}'>{svg}</figure>")
    page = (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>Schedules across workloads</title>"
            f"<style>{STYLE}</style></head><body>{body}<script type='application/json' id='suite-data'>"
            f"{html.escape(json.dumps(data, default=str), quote=False)}</script></body></html>\n")
    atomic_write_text(out / "report.html", page)
    return out / "report.html"


def suite_command(suite) -> str:
    parts = [".venv/bin/python scripts/study.py", f"--dir {suite.study_dir}", f"--workloads {','.join(suite.workloads)}",
             f"--schedules {','.join(suite.schedules)}", f"--studies {suite.studies}", f"--trials {suite.trials}",
             f"--seeds {suite.seeds}"]
    if suite.report_dir:
        parts.append(f"--report {suite.report_dir}")
    if suite.budgets:
        parts.append(f"--budgets {','.join(map(str, suite.budgets))}")
    if suite.baseline != "cosine":
        parts.append(f"--baseline {suite.baseline}")
    if (suite.lr_low, suite.lr_high) != (0.005, 1.0):
        parts.append(f"--lr-range {suite.lr_low:g},{suite.lr_high:g}")
    return " ".join(parts + list(suite.overrides))
