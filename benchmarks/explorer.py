"""The schedule explorer benchmark of scripts/bench_explore.py: a new setting's compose + preview per schedule, the
app's rerun (AppTest), and, with a browser, an edit until the chart is redrawn."""
from __future__ import annotations

import engine.platform.oneflow_env  # noqa: F401  (before oneflow: loads the CUDA libraries it links against)

import os
import statistics
import tempfile
import time
from pathlib import Path

from common.files import atomic_write_json, atomic_write_text
from engine.config.compose import compose_config
from engine.platform.machine import machine
from engine.training.schedule_preview import preview
from explorer import core

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "results" / "bench"
# A field every schedule has, changed to a fresh value each repeat: the schedule's name changes no LR, so the
# curve is recomputed in full (nothing cached) while the work stays that of the default schedule.
FRESH = "scheduler.name"


def time_recompute(choice: str, repeats: int) -> dict:
    """Wall time (what the user waits) and this process's CPU time (what it costs on a core of its own: on a
    shared, loaded machine the wall time also counts the waits for a core)."""
    compose_s, curve_s, cpu_s = [], [], []
    for i in range(repeats):
        started, cpu_started = time.perf_counter(), time.process_time()
        cfg = core.compose((f"scheduler={choice}", f"{FRESH}=bench_{choice}_{i}_{time.time_ns()}"))
        composed = time.perf_counter()
        shown = preview(cfg)
        compose_s.append(composed - started)
        curve_s.append(time.perf_counter() - composed)
        cpu_s.append(time.process_time() - cpu_started)
    total = [a + b for a, b in zip(compose_s, curve_s)]
    return {"points": len(shown.curve), "compose_s": statistics.median(compose_s),
            "curve_s": statistics.median(curve_s), "total_s": statistics.median(total), "cpu_s": statistics.median(cpu_s)}


def time_app_rerun(choice: str, repeats: int) -> dict:
    from streamlit.testing.v1 import AppTest

    app = AppTest.from_file(str(ROOT / "scripts" / "explore.py"), default_timeout=300).run()
    app.selectbox(key="c0:scheduler").set_value(choice)
    app.run()
    field = app.text_input(key=f"c0:{choice}:{FRESH}")
    seconds, cpu = [], []
    for i in range(repeats):
        field.set_value(f"{choice}_{i}")
        started, cpu_started = time.perf_counter(), time.process_time()
        app.run()
        seconds.append(time.perf_counter() - started)
        cpu.append(time.process_time() - cpu_started)
        field = app.text_input(key=f"c0:{choice}:{FRESH}")
    assert not app.exception and not app.error, "the benchmark's edits must be valid"
    return {"schedule": choice, "curves_on_screen": 2, "rerun_s": statistics.median(seconds), "runs": seconds,
            "rerun_cpu_s": statistics.median(cpu)}


def time_browser(repeats: int, workdir: Path) -> dict:
    """In headless Chromium (explorer/browser.py), at the default run (CIFAR-100, 78,200 steps per curve):
    type a new value into a field, press Enter, and time until the chart's drawn marks are the preview of the new
    overrides (the rerun, the websocket, Arrow decoding and Vega's drawing included)."""
    import numpy as np

    from explorer.browser import Explorer

    cases = {"cosine": ("scheduler.lr_scheduler.eta_min", [0.001 * (i + 1) for i in range(repeats)]),
             "warmup_cosine": ("scheduler.lr_scheduler.warmup_iters", [i + 6 for i in range(repeats)])}
    page = Explorer(workdir)
    out = {}
    try:
        for choice, (key, values) in cases.items():
            if choice != "cosine":
                page.choose("c0:scheduler", choice)
                page.wait(lambda: page.has_widget(f"c0:{choice}:{key}"), what=f"{choice}'s fields")
                page.idle()
            seconds = []
            for value in values:
                override = f"{key}={value}"
                lrs = np.array([lr for _, _, lr in preview(compose_config(f"scheduler={choice}", override)).curve])
                steps = core.display_indices(lrs)
                wanted = (steps.tolist(), lrs[steps].tolist())
                label = f"1: {choice}"

                signature = [len(steps), float(sum(wanted[1]))]

                def drawn() -> bool:
                    points, total = page.signature().get(label, (0, 0.0))
                    if points != signature[0] or abs(total - signature[1]) > 1e-9 * abs(signature[1]):
                        return False
                    curve = page.curves().get(label)
                    return bool(curve) and (curve.steps, curve.lrs) == wanted

                page.type_into(f"c0:{choice}:{key}", str(value))
                started = time.perf_counter()
                page.wait(drawn, timeout=120, what=f"{override} drawn", poll=0.02)
                seconds.append(time.perf_counter() - started)
                page.idle()
            out[choice] = {"field": key, "runs": seconds, "median_s": statistics.median(seconds),
                           "load_average_1min_after": os.getloadavg()[0]}
            print(choice, out[choice])
    finally:
        page.close()
    return out


def browser_report(results: dict) -> str:
    lines = ["# Schedule explorer in a browser: from an edit to the redrawn chart", "",
             "`python scripts/bench_explore.py --browser` on this machine: "
             + ", ".join(f"{k} {v}" for k, v in results["machine"].items()), "",
             "Headless Chromium (Selenium), the app served by `streamlit run scripts/explore.py` on loopback, CIFAR-100 "
             "defaults (78,200 LR values per curve, cosine in tab 1 and multistep in tab 2). Each repeat types a new "
             "value into a tab-1 field and presses Enter; the time runs until the chart's drawn marks (Vega's "
             "scenegraph) equal engine.training.schedule_preview.preview of the new overrides, polled every 20 ms: the app's "
             "rerun, the websocket, Arrow decoding and Vega's drawing included.", "",
             "| schedule | field edited | median (s) | each repeat (s) | 1-min load average after |", "|---|---|---|---|---|"]
    for choice, r in results["browser"].items():
        lines.append(f"| {choice} | `{r['field']}` | {r['median_s']:.3f} | {', '.join(f'{s:.3f}' for s in r['runs'])} "
                     f"| {r['load_average_1min_after']:.1f} |")
    lines += ["", "The machine is shared (see the load average: 2 cores); the wall time includes waiting for a core.",
              "cosine is a closed form (schedulers.preview.CLOSED_FORM); warmup_cosine (WarmupLR) is stepped.", ""]
    return "\n".join(lines)


def report(results: dict) -> str:
    rows = sorted(results["recompute"].items(), key=lambda kv: -kv[1]["total_s"])
    app, cosine = results["app"], results["app_closed_form"]
    lines = ["# Schedule explorer: from a widget change to a computed curve", "",
             "`python scripts/bench_explore.py` on this machine: "
             + ", ".join(f"{k} {v}" for k, v in results["machine"].items()),
             "", f"Run: CIFAR-100 defaults, {results['steps_per_epoch']} optimizer steps per epoch x 200 epochs = "
             f"78,200 LR values per curve. Median of {results['repeats']} fresh settings each.", "",
             "Wall: what the user waits, on this shared machine (see the load average above; other jobs compete for "
             "the 2 cores). CPU: this process's own CPU time, i.e. the wait on a core of its own.", "",
             "| schedule | compose (s) | preview: curve + resolved schedule (s) | total, wall (s) | total, CPU (s) |",
             "|---|---|---|---|---|"]
    lines += [f"| {name} | {r['compose_s']:.3f} | {r['curve_s']:.3f} | {r['total_s']:.3f} | {r['cpu_s']:.3f} |"
              for name, r in rows]
    slowest, r = rows[0]
    lines += ["", f"Slowest schedule: **{slowest}**, {r['total_s']:.3f} s wall ({r['cpu_s']:.3f} s CPU) from a new setting "
                  f"to its computed curve ({r['compose_s']:.3f} s composing the config, {r['curve_s']:.3f} s stepping the "
                  f"schedule).", "",
              f"Whole app rerun after a field change (AppTest, headless; {app['schedule']} in tab 1 and the default "
              f"second curve on screen, chart spec, table and downloads included): median **{app['rerun_s']:.3f} s** "
              f"wall ({', '.join(f'{s:.3f}' for s in app['runs'])}), {app['rerun_cpu_s']:.3f} s CPU; with cosine (closed "
              f"form) in tab 1: **{cosine['rerun_s']:.3f} s** wall, {cosine['rerun_cpu_s']:.3f} s CPU.", "",
              "Closed-form schedules (schedulers.preview.CLOSED_FORM) are evaluated with the scheduler's own "
              "get_lr per step instead of being stepped; compositions (SequentialLR, WarmupLR, ChainedScheduler), "
              "LambdaLR and plateau schedules are stepped through the training loop's hooks.", ""]
    return "\n".join(lines)

def benchmark(repeats: int, out: Path = OUT, browser: bool = False, quick: bool = False) -> None:
    """Measure and print the report; unless quick, write explore.md/.json (browser: explore_browser.md/.json) to out."""
    if browser:
        with tempfile.TemporaryDirectory() as workdir:
            results = {"machine": machine(), "browser": time_browser(repeats, Path(workdir))}
        text = browser_report(results)
        print(text)
        if not quick:
            atomic_write_text(out / "explore_browser.md", text)
            atomic_write_json(out / "explore_browser.json", results)
        return
    results = {"machine": machine(), "repeats": repeats,
               "steps_per_epoch": preview(compose_config("scheduler=constant")).steps_per_epoch, "recompute": {}}
    for choice in core.scheduler_choices():
        core.compose((f"scheduler={choice}",))  # the choice's base config, composed once when it is picked
        results["recompute"][choice] = time_recompute(choice, repeats)
        print(f"{choice:16s} {results['recompute'][choice]}")
    slowest = max(results["recompute"], key=lambda name: results["recompute"][name]["total_s"])
    results["app"] = time_app_rerun(slowest, repeats)
    results["app_closed_form"] = time_app_rerun("cosine", repeats)  # the common case: a closed-form schedule
    text = report(results)
    print(text)
    if not quick:
        atomic_write_text(out / "explore.md", text)
        atomic_write_json(out / "explore.json", results)
