"""The schedule explorer benchmark of scripts/bench_explore.py: a new setting's compose + preview per schedule, the
app's rerun (AppTest), and, with a browser, an edit until the chart is redrawn."""
from __future__ import annotations

import engine.platform.oneflow_env  # noqa: F401  (before oneflow: loads the CUDA libraries it links against)

import contextlib
import multiprocessing
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Iterator, Optional

import numpy as np

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


CURVES = 6  # every tab the page offers, at the default run: 6 x 78,200 LR values
EDIT_KINDS = ("typed number", "slider", "select box", "checkbox", "add or remove a schedule", "run length",
              "short horizon", "real-run overlay")


def browser_edits(page, runs: list) -> dict:
    """{edit kind: edit(repeat)}: each edit changes the page as a user does (typing and Enter, a slider moved by the
    keyboard, an option clicked, a box ticked) and returns (the chart it redraws: 0 the schedules, 1 the overlay;
    the run overlaid, or None)."""
    onecycle = "c2:onecycle:scheduler.lr_scheduler."

    def then(_: None, chart: int = 0, run: Optional[Path] = None) -> tuple:  # after the edit: what it redraws
        return chart, run

    def typed(i):
        return then(page.type_into("c0:cosine:scheduler.lr_scheduler.eta_min", f"{0.001 * (i + 1):g}"))

    def in_tab3(act):  # onecycle's fields: tab 3 opened first (a rerun of its own, not timed)
        def edit(i):
            if not page.has_widget(onecycle + "pct_start"):
                page.tab(3)
                page.wait(lambda: page.has_widget(onecycle + "pct_start"), what="onecycle's fields")
                page.idle()
            return then(act(i))
        return edit

    return {
        "typed number": typed,
        "slider": in_tab3(lambda i: page.nudge(onecycle + "pct_start:slider", "ArrowRight" if i % 2 == 0 else "ArrowLeft")),
        "select box": in_tab3(lambda i: page.choose(onecycle + "anneal_strategy", "linear" if i % 2 == 0 else "cos")),
        "checkbox": in_tab3(lambda i: page.tick(onecycle + "three_phase", i % 2 == 0)),
        "add or remove a schedule": lambda i: then(page.type_into("curves", str(CURVES - 1 if i % 2 == 0 else CURVES))),
        "run length": lambda i: then(page.type_into("run:cifar100:sgd:trainer.max_epochs", str(199 - i))),
        "short horizon": lambda i: then(page.tick("horizon", i % 2 == 0)),
        "real-run overlay": lambda i: then(page.type_into("runs_folder", str(runs[i % 2])), chart=1, run=runs[i % 2]),
    }


def drawn_as_planned(page, chart: int, previews: dict, run: Optional[Path] = None) -> None:
    """Check that the chart draws, for every curve, the preview of the command the page shows for it (the overlay
    chart: the plan of `run`'s own config), at the displayed steps; raise AssertionError naming the curve otherwise."""
    import shlex

    drawn = page.curves(chart)
    if run is not None:
        wanted = {label: core.overlay_run(run).planned for label in drawn}
    else:
        commands = page.commands()
        assert len(commands) == len(drawn), (commands, list(drawn))
        wanted = {}
        for line, label in zip(commands, drawn):
            overrides = tuple(shlex.split(line)[2:])
            if overrides not in previews:
                previews[overrides] = np.array([lr for _, _, lr in preview(compose_config(*overrides)).curve])
            wanted[label] = previews[overrides]
    for label, lrs in wanted.items():
        keep = core.display_indices(lrs)
        assert (drawn[label].steps, drawn[label].lrs) == (keep.tolist(), lrs[keep].tolist()), f"{label} not as planned"


def cpu_seconds(roots: tuple) -> float:
    """CPU time (user + system) so far of the processes `roots` and all their descendants, from /proc."""
    parents, ticks = {}, {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:  # ended meanwhile
                continue
            parents[int(entry)], ticks[int(entry)] = int(fields[1]), int(fields[11]) + int(fields[12])
    def rooted(pid: int) -> bool:
        while pid > 1:
            if pid in roots:
                return True
            pid = parents.get(pid, 1)
        return False
    return sum(t for pid, t in ticks.items() if rooted(pid)) / os.sysconf("SC_CLK_TCK")


def time_edit(page, edit, repeat: int, previews: dict) -> tuple:
    """(seconds from the edit's last keystroke to the animation frame that showed the chart the page settles on, as
    chart.js stamps it; seconds to the first 10-ms poll that saw it; CPU seconds the app server and the browser spent
    from the edit to the page idle again: what the edit costs with a core free; the chart's own drawing in ms). The
    drawing is checked against the previews (drawn_as_planned).

    Why two times: the poll is a script on the page's main thread, which also draws the chart (same-origin iframe), so
    it runs only once the page has finished the rest of its rerun (tables, commands); the frame's stamp is when the
    picture was on screen. They differ by 0.05-0.15 s on a full-page rerun."""
    page.idle()
    before = page.signature(0), page.signature(1)
    seen = []
    roots = (page.server.pid, page.driver.service.process.pid)
    cpu_started = cpu_seconds(roots)
    chart, run = edit(repeat)
    typed_at, typed_wall = time.perf_counter(), time.time()
    deadline = typed_at + 120
    while time.perf_counter() < deadline:
        signature = page.signature(chart)
        seen.append((time.perf_counter(), signature))
        if signature and signature != before[chart] and not page.running():
            break
        time.sleep(0.01)
    page.idle()
    cpu = cpu_seconds(roots) - cpu_started
    final = page.signature(chart)
    assert final and final != before[chart], f"edit {repeat} of {edit} changed no drawing"
    polled_at = next((t for t, signature in seen if signature == final), time.perf_counter())
    drawn_as_planned(page, chart, previews, run)
    shown_at = page.shown_at(chart)
    assert shown_at is not None and typed_wall - 0.05 <= shown_at <= typed_wall + (polled_at - typed_at) + 0.05, \
        f"edit {repeat} of {edit}: the chart's frame stamp {shown_at} is not between the edit and the poll that saw it"
    return shown_at - typed_wall, polled_at - typed_at, cpu, page.charts()[chart]["drawMs"]


def time_browser(repeats: int, workdir: Path) -> dict:
    """In headless Chromium (explorer/browser.py), at the default run (CIFAR-100, 78,200 steps per curve) with six
    curves: every kind of edit, `repeats` times, timed from the edit to the drawn chart that the page then shows
    (the rerun, the websocket and the canvas drawing included), each checked against the previews."""
    from explorer.browser import Explorer, planned_run

    run = ["scheduler=cosine", "data=synthetic", "data.train_size=2048", "data.batch_size=32", "trainer.max_epochs=30"]
    runs = [planned_run(workdir / "runs" / "a", *run),
            planned_run(workdir / "runs" / "b", *run, "scheduler.lr_scheduler.eta_min=0.02")]
    page = Explorer(workdir)
    out = {"first_load_s": [], "edits": {}}
    previews: dict = {}
    try:
        page.type_into("curves", str(CURVES))
        page.wait(lambda: len(page.signature()) == CURVES, timeout=300, what="six curves")
        for _ in range(2):  # the first drawn chart of a fresh page, the server warm
            started = time.perf_counter()
            page.driver.get(page.url)
            page.wait(lambda: any(page.charts()), timeout=120, what="the first chart")
            out["first_load_s"].append(time.perf_counter() - started)
            page.idle()
            page.type_into("curves", str(CURVES))
            page.wait(lambda: len(page.signature()) == CURVES, timeout=300, what="six curves")
        for kind, edit in browser_edits(page, runs).items():
            seconds, polled, cpu, draw_ms = zip(*(time_edit(page, edit, i, previews) for i in range(repeats)))
            out["edits"][kind] = {"runs": list(seconds), "median_s": statistics.median(seconds),
                                  "p90_s": float(np.percentile(seconds, 90)), "polled": list(polled),
                                  "polled_median_s": statistics.median(polled),
                                  "polled_p90_s": float(np.percentile(polled, 90)),
                                  "draw_ms_median": statistics.median(draw_ms), "cpu_median_s": statistics.median(cpu),
                                  "load_average_1min": os.getloadavg()[0]}
            print(kind, out["edits"][kind], flush=True)
    finally:
        page.close()
    return out


def browser_report(results: dict, command: str) -> str:
    edits = results["browser"]["edits"]
    met = all(r["median_s"] <= 0.25 and r["p90_s"] <= 0.5 for r in edits.values()) and \
        max(results["browser"]["first_load_s"]) <= 3
    lines = ["# Schedule explorer in a browser: from an edit to the redrawn chart", "",
             f"`{command}` on this machine: " + ", ".join(f"{k} {v}" for k, v in results["machine"].items()), "",
             "Headless Chromium (Selenium), the app served by `streamlit run scripts/explore.py` on loopback, CIFAR-100 "
             f"defaults (78,200 LR values per curve), {CURVES} curves (cosine, multistep, onecycle, warmup_cosine, "
             "plateau, cyclic). Each edit is made as a user makes it; the time runs from its last keystroke (Enter, an "
             "arrow key, a click) to the animation frame that showed the chart the page settles on (chart.js stamps "
             "the first frame after it drew a new picture: explorer/lr_chart, `window.shown`). What was drawn (the "
             "record the canvas component keeps, explorer/browser.py) is then checked equal to "
             "engine.training.schedule_preview.preview of the commands the page shows (the overlay: the run's own "
             "plan): the app's rerun, the websocket, the browser's handling of the rerun and the canvas drawing are "
             "included. Poll: the same edit timed to the first 10-ms poll that saw the drawing; the poll is a script "
             "on the page's main thread, so it also waits for the rest of the page to be re-rendered after the chart. "
             "Draw: the chart's own drawing of the last repeat (chart.js), in ms.", "",
             "CPU: the median CPU time the app server and Chromium spent per edit (from the edit until the page is "
             "idle, 10-ms polls included): what an edit costs with a core free, whatever the load.", "",
             "| edit | repeats | median (s) | 90th percentile (s) | each repeat (s) | poll: median, 90th percentile (s) "
             "| CPU, median (s) | draw, median (ms) | 1-min load average after |", "|---|---|---|---|---|---|---|---|---|"]
    for kind, r in edits.items():
        lines.append(f"| {kind} | {len(r['runs'])} | {r['median_s']:.3f} | {r['p90_s']:.3f} | "
                     f"{', '.join(f'{s:.3f}' for s in r['runs'])} | {r['polled_median_s']:.3f}, {r['polled_p90_s']:.3f} | "
                     f"{r['cpu_median_s']:.3f} | {r['draw_ms_median']:.1f} | {r['load_average_1min']:.1f} |")
    loads = results["browser"]["first_load_s"]
    lines += ["", f"First drawn chart of a fresh page (the server warm): {', '.join(f'{s:.2f}' for s in loads)} s.", "",
              f"Target (median ≤ 0.25 s and 90th percentile ≤ 0.5 s for every kind, first chart ≤ 3 s): **{'met' if met else 'not met'}** "
              f"at a 1-minute load average of {results['machine'].get('load_average_at_start', 0):.1f} at the start and "
              f"{results['load_average_1min_at_end']:.1f} at the end (2 cores, shared: the wall time includes waiting "
              "for a core)" + (f", with {results['busy_loops']} busy-loop processes running beside it (--busy)"
                               if results.get("busy_loops") else "") + ".", ""]
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
                  f"to its computed curve ({r['compose_s']:.3f} s composing the config, {r['curve_s']:.3f} s computing the "
                  f"curve and the resolved schedule).", "",
              f"Whole app rerun after a field change (AppTest, headless; {app['schedule']} in tab 1 and the default "
              f"second curve on screen, chart spec, table and downloads included): median **{app['rerun_s']:.3f} s** "
              f"wall ({', '.join(f'{s:.3f}' for s in app['runs'])}), {app['rerun_cpu_s']:.3f} s CPU; with cosine (closed "
              f"form) in tab 1: **{cosine['rerun_s']:.3f} s** wall, {cosine['rerun_cpu_s']:.3f} s CPU.", "",
              "Closed-form schedules (schedulers.preview.CLOSED_FORM, and SequentialLR/WarmupLR of them) are "
              "evaluated over every step at once by their array forms (schedulers/array_forms.py: get_lr's values bit "
              "for bit) instead of being stepped, and so is a LambdaLR of Noam (noam); ChainedScheduler and plateau "
              "schedules are stepped through the training loop's hooks.", ""]
    return "\n".join(lines)


def spin() -> None:
    while True:
        pass


@contextlib.contextmanager
def busy(processes: int) -> Iterator[None]:
    """`processes` busy loops beside the measurement (the load another job puts on the machine), stopped after."""
    context = multiprocessing.get_context("spawn")
    loops = [context.Process(target=spin, daemon=True) for _ in range(processes)]
    for loop in loops:
        loop.start()
    try:
        yield
    finally:
        for loop in loops:
            loop.terminate()
            loop.join()


def benchmark(repeats: int, out: Path = OUT, browser: bool = False, quick: bool = False,
              command: str = "python scripts/bench_explore.py --browser", busy_loops: int = 0) -> None:
    """Measure and print the report; unless quick, write explore.md/.json (browser: explore_browser.md/.json) to out.
    `busy_loops`: that many processes spinning beside the browser measurement (a machine under load)."""
    if browser:
        with tempfile.TemporaryDirectory() as workdir, busy(busy_loops):
            results = {"machine": machine(), "busy_loops": busy_loops, "browser": time_browser(repeats, Path(workdir))}
            results["load_average_1min_at_end"] = os.getloadavg()[0]
        text = browser_report(results, command)
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
