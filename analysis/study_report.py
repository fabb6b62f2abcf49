"""The study's outputs: the comparison of its seed runs, the LR sensitivity, reproduction bounds and one HTML page.

Written into the report directory (default <study dir>/report/):
  comparison.md / .csv, val_acc1.png, lr.png   analysis.comparison on the seed runs (test top-1, paired tests, power)
  sensitivity.png                              each search trial's validation score against its LR (log axis), per
                                               schedule, the tuned LR ringed, failed trials marked at the bottom
  study.md                                     the protocol as run: budget, LR plan, tuned LR per schedule, every trial
  reproduction.json                            what a rerun must reproduce: the verdict, and per schedule the 95 %
                                               prediction interval of a rerun's mean (check_reproduction)
  report.html                                  all of it on one self-contained page (inline SVG figures, no network)
"""
from __future__ import annotations

import html
import io
import json
import math
import re
from pathlib import Path
from typing import Optional

from analysis import comparison, stats
from analysis.study_figures import pyplot, schedule_colors, unify
from analysis.study_runs import read_faults
from analysis.study_spec import lr_plan, spec_overrides
from analysis.study_trials import optuna_study, recorded_trials
from common.files import atomic_save_figure, atomic_write_text

CONFIDENCE = 0.95


# ----------------------------------------------------------------------------- the search trials

def search_trials(spec, schedules: Optional[list] = None) -> dict:
    """{schedule: [{lr, value, status, test_acc1}] sorted by LR} from the Optuna storage (the plan's trials only)."""
    plan = set(lr_plan(spec.trials, spec.lr_low, spec.lr_high, spec.plan_seed))
    found = {}
    for schedule in schedules or spec.schedules:
        trials = recorded_trials(optuna_study(spec, schedule))
        found[schedule] = [{"lr": lr, "value": t.value, "status": t.user_attrs.get("status"),
                            "test_acc1": t.user_attrs.get("test_acc1")} for lr, t in sorted(trials.items()) if lr in plan]
    return found


def sensitivity_figure(trials: dict, tuned: dict, objective: str, colors: Optional[dict] = None):
    """Validation score against LR (log axis) per schedule; the tuned LR ringed; failed trials as x at the bottom."""
    plt = pyplot()
    colors = colors or schedule_colors(list(trials))
    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    scored = [t["value"] for ts in trials.values() for t in ts if t["value"] is not None]
    floor = min(scored, default=0.0)
    for schedule, ts in trials.items():
        color = colors[schedule]
        ok = [t for t in ts if t["value"] is not None]
        line, = ax.plot([t["lr"] for t in ok], [t["value"] for t in ok], "o-", color=color, label=schedule)
        line.set_gid(f"sensitivity-{schedule}")
        failed = [t for t in ts if t["value"] is None]
        if failed:
            marks, = ax.plot([t["lr"] for t in failed], [floor] * len(failed), "x", color=color, markersize=9, linestyle="none")
            marks.set_gid(f"failed-{schedule}")
        chosen = next((t for t in ok if t["lr"] == tuned.get(schedule)), None)
        if chosen:
            ring, = ax.plot([chosen["lr"]], [chosen["value"]], "o", markersize=14, markerfacecolor="none",
                            markeredgecolor=color, markeredgewidth=2, linestyle="none")
            ring.set_gid(f"chosen-{schedule}")
    ax.set_xscale("log")
    what = "final" if objective == "final_acc1" else "best-epoch"
    ax.set(xlabel="base learning rate (log scale)", ylabel=f"validation top-1 (%), {what} epoch",
           title="LR sensitivity: search trials on the held-out validation split (ringed: tuned LR; x: diverged/failed)")
    ax.title.set_fontsize(9)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    return fig


# ----------------------------------------------------------------------------- reproduction

def named_winner(rows: list) -> Optional[str]:
    """The setting the verdict names as the winner, or None ("no clear winner", too thin, failures...)."""
    return comparison.named_winner(rows)


def reproduction(rows: list, winner: Optional[str]) -> dict:
    """What a rerun (another machine, same command) must reproduce: the verdict, and each setting's mean inside the
    95 % prediction interval of a rerun's mean of as many seeds: mean ± t(0.975, n−1)·s·√(1/n + 1/n)."""
    settings = {}
    for row in rows:
        s = row.spread
        if s.n >= 2:
            half = stats.scipy_stats.t.ppf((1 + CONFIDENCE) / 2, s.n - 1) * s.std * math.sqrt(2 / s.n)
            low, high = max(0.0, s.mean - half), min(100.0, s.mean + half)
        else:
            low = high = None
        settings[row.setting] = {"mean": s.mean, "std": s.std, "n": s.n, "rerun_mean_low": low, "rerun_mean_high": high}
    return {"winner": winner, "settings": settings,
            "definition": "a rerun reproduces this study when its verdict names the same winner (or again none) and each "
                          "setting's mean lies inside [rerun_mean_low, rerun_mean_high]"}


def check_reproduction(committed: dict, rerun: dict) -> list:
    """The ways `rerun` (a reproduction.json) fails to reproduce `committed`; empty when it reproduces."""
    problems = []
    if committed.get("winner") != rerun.get("winner"):
        problems.append(f"the verdict differs: committed {committed.get('winner') or 'no clear winner'}, "
                        f"rerun {rerun.get('winner') or 'no clear winner'}")
    for name, bounds in committed["settings"].items():
        mean = (rerun["settings"].get(name) or {}).get("mean")
        if mean is None:
            problems.append(f"{name}: no completed run in the rerun")
        elif bounds["rerun_mean_low"] is not None and not bounds["rerun_mean_low"] <= mean <= bounds["rerun_mean_high"]:
            problems.append(f"{name}: rerun mean {mean:.2f} outside the prediction interval "
                            f"[{bounds['rerun_mean_low']:.2f}, {bounds['rerun_mean_high']:.2f}]")
    return problems


# ----------------------------------------------------------------------------- the pages

def _command(spec) -> str:
    parts = [".venv/bin/python scripts/study.py", f"--dir {spec.study_dir}"]
    if spec.report_dir:
        parts.append(f"--report {spec.report_dir}")
    parts += [f"--schedules {','.join(spec.schedules)}", f"--trials {spec.trials}", f"--seeds {spec.seeds}"]
    defaults = {"experiment": "digits", "lr_low": 0.005, "lr_high": 1.0, "val_split": 0.2, "objective": "final_acc1"}
    if spec.experiment != defaults["experiment"]:
        parts.append(f"--experiment {spec.experiment}")
    if (spec.lr_low, spec.lr_high) != (defaults["lr_low"], defaults["lr_high"]):
        parts.append(f"--lr-range {spec.lr_low:g},{spec.lr_high:g}")
    if spec.val_split != defaults["val_split"]:
        parts.append(f"--val-split {spec.val_split:g}")
    if spec.objective != defaults["objective"]:
        parts.append(f"--objective {spec.objective}")
    if spec.storage:
        parts.append(f"--storage {spec.storage}")
    return " ".join(parts + list(spec.overrides))


def environment_of(runs: list) -> dict:
    """The provenance the seed runs recorded (CPU, ISA flags, threads, versions), from the first run that has it."""
    return next((r.provenance for r in runs if r.provenance.get("cpu_model")), {})


def study_markdown(spec, tuned: dict, trials: dict, environment: dict, plans: Optional[dict] = None,
                   faults: Optional[list] = None) -> str:
    from analysis.study_plan import plan_text

    out = io.StringIO()
    out.write(f"# Schedule study: {', '.join(spec.schedules)}\n\n")
    out.write(f"Made by:\n\n```bash\n{_command(spec)}\n```\n\n")
    out.write(f"**Protocol.** Per schedule, {spec.trials} search trials (seed 0) at the LRs "
              f"{', '.join(f'{lr:g}' for lr in sorted(lr_plan(spec.trials, spec.lr_low, spec.lr_high, spec.plan_seed)))} "
              f"(one scrambled-Halton plan over [{spec.lr_low:g}, {spec.lr_high:g}] on a log scale, the same for every "
              f"schedule), each scored on a validation split of {spec.val_split:g} held out of the training set "
              f"(`{spec.objective}`: validation top-1 at the {'final' if spec.objective == 'final_acc1' else 'best'} epoch). "
              f"The best trial's LR (ties: their median LR) is the schedule's tuned LR; then {spec.seeds} seeds "
              f"(0..{spec.seeds - 1}) at it, scored on the test set, which chose nothing. The comparison of those seeds "
              f"is [comparison.md](comparison.md); the page with everything is [report.html](report.html).\n\n")
    out.write("| schedule | runs as | tuned LR | its validation top-1 | trials completed | diverged/failed (results) | "
              "machine faults (re-run) |\n|---|---|---|---|---|---|---|\n")
    faults = faults or []
    for schedule in spec.schedules:
        ts = trials.get(schedule, [])
        best = next((t["value"] for t in ts if t["lr"] == tuned.get(schedule)), None)
        out.write(f"| {schedule} | `{' '.join(spec_overrides(spec, schedule))}` | "
                  f"{'—' if tuned.get(schedule) is None else f'{tuned[schedule]:g}'} | "
                  f"{'—' if best is None else f'{best:.2f}'} | {sum(t['value'] is not None for t in ts)}/{spec.trials} | "
                  f"{sum(t['value'] is None for t in ts)} | {sum(f['schedule'] == schedule for f in faults)} |\n")
    if plans:
        out.write("\n**What each schedule ran** (checked against the run length before the study started):\n\n"
                  + "".join(f"- {plan_text(s, plans[s])}\n" for s in spec.schedules if s in plans))
    out.write(fault_text(trials, faults))
    plan = sorted(lr_plan(spec.trials, spec.lr_low, spec.lr_high, spec.plan_seed))
    edge = [s for s in spec.schedules if tuned.get(s) is not None and len(plan) > 2 and tuned[s] in (plan[0], plan[-1])]
    if edge:
        out.write(f"\n**At the edge of the plan:** {', '.join(edge)} {'was' if len(edge) == 1 else 'were'} tuned to the "
                  f"{'lowest or highest' if len(edge) > 1 else ('lowest' if tuned[edge[0]] == plan[0] else 'highest')} LR "
                  f"tried, so {'its' if len(edge) == 1 else 'their'} optimum may lie beyond it: more trials (or a wider "
                  f"--lr-range) could still raise {'it' if len(edge) == 1 else 'them'}.\n")
    out.write("\n![LR sensitivity](sensitivity.png)\n\n## Search trials\n\n| schedule | LR | status | validation top-1 | "
              "(test top-1, never used) |\n|---|---|---|---|---|\n")
    for schedule, ts in trials.items():
        for t in ts:
            value = "—" if t["value"] is None else f"{t['value']:.2f}"
            test = "—" if t["test_acc1"] is None else f"{t['test_acc1']:.2f}"
            out.write(f"| {schedule} | {t['lr']:g} | {t['status']} | {value} | {test} |\n")
    out.write("\n## Environment\n\n" + environment_text(environment) + "\n")
    return out.getvalue()


def fault_text(trials: dict, faults: list) -> str:
    """Both kinds of failed run, counted and named: results (divergence, a config's failure) and machine faults."""
    failed = [f"{schedule} lr={t['lr']:g} ({t['status']})" for schedule, ts in trials.items() for t in ts if t["value"] is None]
    text = (f"\n**Failed runs that are results** (a divergence, or a failure the config caused; they count as the trial's "
            f"outcome): {len(failed)}{': ' + ', '.join(failed) if failed else ''}.\n")
    named = [f"{f['phase']} {f['schedule']} {'lr=' + format(f['lr'], 'g') if f['phase'] == 'search' else 'seed ' + str(f['seed'])}"
             f" ({f['error']})" for f in faults]
    return text + (f"\n**Machine faults** (disk full, out of memory, I/O: not results; each such run ran again and only its "
                   f"re-run counts): {len(faults)}{': ' + '; '.join(named) if named else ''}.\n")


def environment_text(environment: dict) -> str:
    if not environment:
        return "The runs recorded no provenance (run_info.json)."
    versions = ", ".join(f"{k} {v}" for k, v in (environment.get("versions") or {}).items() if v)
    threads = ", ".join(f"{k}={v}" for k, v in (environment.get("threads") or {}).items() if v) or "none set"
    return (f"CPU {environment.get('cpu_model')} ({environment.get('cores_available')} cores available; ISA "
            f"{' '.join(environment.get('isa_flags') or []) or 'unknown'}); thread variables: {threads}; {versions}. "
            f"Per-run figures are bit-identical on one machine but differ across CPU models: what reproduces elsewhere is the "
            f"verdict and each schedule's mean within its prediction interval (reproduction.json).")


def _hex(color) -> str:
    import matplotlib.colors

    return matplotlib.colors.to_hex(color)


def _svg(fig, name: str) -> str:
    """The figure as inline SVG text (text kept as text, ids salted per figure so several share one page)."""
    import matplotlib

    buffer = io.StringIO()
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": name}):
        fig.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})  # the same study, the same page
    text = buffer.getvalue()
    return text[text.index("<svg"):]


STYLE = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;font-size:13px;margin:1em 0}td,th{border:1px solid #ccc;padding:3px 6px;text-align:left}
th{background:#f3f3f3}code{background:#f6f6f6;padding:0 3px}pre{background:#f6f6f6;padding:8px;overflow-x:auto}
figure{margin:1em 0}svg{max-width:100%;height:auto}section{margin-bottom:2em}.verdict{background:#fff8e1;padding:10px;border-left:4px solid #f0b400}"""


def html_page(spec, study_md: str, comparison_md: str, figures: dict, data: dict) -> str:
    import markdown as md

    def render(text: str) -> str:
        return md.markdown(text, extensions=["tables", "fenced_code"])

    comparison_body = comparison_md.split("\n", 1)[1]  # without its "# Comparison" title
    verdict = re.search(r"\*\*Verdict\.\*\* (.*)", comparison_md)
    title, study_md = study_md.split("\n", 1)
    sections = [render(title),
                f"<section id='verdict' class='verdict'>{render('**Verdict.** ' + verdict.group(1)) if verdict else ''}</section>",
                f"<section id='study'>{render(study_md.split('## Search trials')[0].replace('![LR sensitivity](sensitivity.png)', ''))}</section>",
                f"<section id='sensitivity'><h2>LR sensitivity</h2><figure>{figures['sensitivity']}</figure></section>",
                f"<section id='comparison'><h2>Seeds at the tuned LRs: the test set</h2>{render(comparison_body)}</section>",
                f"<section id='curves'><h2>Learning curves</h2><figure>{figures['accuracy']}</figure></section>",
                f"<section id='lr'><h2>The LR actually applied</h2><figure>{figures['lr']}</figure></section>",
                f"<section id='trials'>{render('## Search trials' + study_md.split('## Search trials')[1])}</section>"]
    payload = html.escape(json.dumps(data, default=str), quote=False)
    return (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>Schedule study: {html.escape(', '.join(spec.schedules))}"
            f"</title><style>{STYLE}</style></head><body>{''.join(sections)}"
            f"<script type='application/json' id='study-data'>{payload}</script></body></html>\n")


def write(spec, tuned: dict, plans: Optional[dict] = None) -> Path:
    """Every report file (see the module docstring); returns report.html's path."""
    out = Path(spec.report_dir or Path(spec.study_dir) / "report")
    kept: dict = {}
    rows = comparison.compare(Path(spec.study_dir) / "seeds", out=out, keep=kept)
    trials = search_trials(spec)
    plt = pyplot()
    colors = schedule_colors(list(spec.schedules))
    figures = {"sensitivity": sensitivity_figure(trials, tuned, spec.objective, colors),
               "accuracy": comparison.accuracy_figure(rows, kept["runs"], kept["scoring"]),
               "lr": comparison.lr_figure(rows, kept["runs"])}
    for fig in figures.values():
        unify(fig, colors)
    for name, png in (("sensitivity", "sensitivity.png"), ("accuracy", "val_acc1.png"), ("lr", "lr.png")):
        atomic_save_figure(figures[name], out / png, dpi=130, bbox_inches="tight")  # comparison's own colours replaced
    svgs = {name: _svg(fig, name) for name, fig in figures.items()}
    for fig in figures.values():
        plt.close(fig)
    environment = environment_of(kept["runs"])
    faults = read_faults(Path(spec.study_dir))
    study_md = study_markdown(spec, tuned, trials, environment, plans, faults)
    repro = reproduction(rows, named_winner(rows))
    data = {"tuned_lr": tuned, "trials": trials, "faults": faults, "colors": {s: _hex(c) for s, c in colors.items()},
            "reproduction": repro, "environment": environment,
            "rows": [{"setting": r.setting, "mean": r.spread.mean, "n": r.spread.n} for r in rows]}
    atomic_write_text(out / "study.md", study_md)
    atomic_write_text(out / "reproduction.json", json.dumps(repro, indent=2) + "\n")
    atomic_write_text(out / "report.html", html_page(spec, study_md, kept["markdown"], svgs, data))
    return out / "report.html"
