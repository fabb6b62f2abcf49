"""scripts/explore.py in a real headless Chromium: after every kind of edit, the curve the chart draws is the
project's preview (engine.training.schedule_preview.preview of compose_config) of the overrides the page shows.

One app server and one browser for the module; each test makes its edit on the page as a user would (typing,
clicking), waits for the page's command line to show it, then reads what the chart's canvas drew (the record its
component keeps, explorer/browser.py) until it equals the preview, or fails with what is drawn instead.
"""
from __future__ import annotations

import colorsys
import re
import shlex
import socket
import time

import numpy as np
import pytest

from engine.config.compose import compose_config
from explorer import core
from engine.training.schedule_preview import preview
from explorer.browser import CHROMEDRIVER, CHROMIUM, Explorer, planned_run

pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(not (CHROMIUM and CHROMEDRIVER), reason="no Chromium + chromedriver installed "
                                 "(apt-get install chromium chromium-driver)")]

RUN = "run:cifar100:sgd:"
SHORT = ["data.train_size=5000"]  # 40 steps per epoch x 200 epochs: reruns stay cheap, every default is valid
REDRAW_TIMEOUT = 10  # s after the command shows the edit (the app has finished its rerun by then)


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    pytest.importorskip("selenium.webdriver", reason="selenium is not installed (requirements.txt)")
    explorer = Explorer(tmp_path_factory.mktemp("explorer"))
    try:
        explorer.type_into(RUN + "data.train_size", "5000")
        explorer.wait(lambda: explorer.commands()[:1] == [command("cosine")], what="the short run")
        yield explorer
    finally:
        explorer.close()


def command(*overrides: str) -> str:
    first, *rest = overrides
    return core.train_command([f"scheduler={first}" if "=" not in first else first, *SHORT, *rest])


def expected(overrides: list, log_scale: bool = False) -> tuple:
    """(steps, lrs) the chart must draw for these overrides: the preview's curve at the displayed steps."""
    lrs = np.array([lr for _, _, lr in preview(compose_config(*overrides)).curve])
    keep = core.display_indices(lrs)
    if log_scale:
        keep = keep[lrs[keep] > 0]
    return keep.tolist(), lrs[keep].tolist()


def drawn_equals(page: Explorer, wanted: dict, chart: int = 0, log_scale: bool = False):
    """The chart's curves once they are exactly `wanted` ({series label: overrides}); None until then."""
    curves = page.curves(chart)
    if set(curves) != set(wanted):
        return None
    for label, overrides in wanted.items():
        steps, lrs = expected(overrides, log_scale)
        if curves[label].steps != steps or curves[label].lrs != lrs:
            return None
    return curves


def assert_redrawn(page: Explorer, commands: list, wanted: dict, log_scale: bool = False) -> float:
    """Wait until the page's commands are `commands`, then until the chart draws `wanted`; seconds it took."""
    started = time.perf_counter()
    page.wait(lambda: page.commands()[:len(commands)] == commands, timeout=60,
              what=f"the commands {commands} (page shows {page.commands()})")
    try:
        page.wait(lambda: drawn_equals(page, wanted, log_scale=log_scale), timeout=REDRAW_TIMEOUT,
                  what="the chart to draw the preview")
    except TimeoutError:
        page.idle()
        drawn = page.curves()
        report = {label: (len(c.steps), max(c.lrs), min(c.lrs)) for label, c in drawn.items()}
        wants = {label: (len(expected(o, log_scale)[0]), max(expected(o, log_scale)[1]), min(expected(o, log_scale)[1]))
                 for label, o in wanted.items()}
        pytest.fail(f"{REDRAW_TIMEOUT} s after the page showed {commands}, the chart still draws "
                    f"(points, max LR, min LR) {report}, not the preview's {wants}")
    return time.perf_counter() - started


def defaults(*tab1: str) -> dict:
    return {"1: cosine": ["scheduler=cosine", *SHORT, *tab1], "2: multistep": ["scheduler=multistep", *SHORT]}


@pytest.fixture(autouse=True)
def fresh(page):
    """Each test starts from the page's defaults (tab 1 cosine, tab 2 multistep, the short run): a test that
    failed half-way cannot leave its edits to the next one."""
    if page.commands() != [command("cosine"), command("multistep")] or len(page.charts()) != 1:
        page.open()
        page.type_into(RUN + "data.train_size", "5000")
        page.wait(lambda: page.commands() == [command("cosine"), command("multistep")], what="the short run")
    yield


def rgb(color: str) -> tuple:
    if color.startswith("#"):
        return tuple(int(color[i:i + 2], 16) for i in (1, 3, 5))
    return tuple(int(float(v)) for v in re.findall(r"[\d.]+", color)[:3])


def test_first_render_draws_both_default_curves_in_distinct_colours(page):
    curves = assert_redrawn(page, [command("cosine"), command("multistep")], defaults()) and page.curves()
    first, second = (colorsys.rgb_to_hsv(*(v / 255 for v in rgb(c.color)))[0] * 360 for c in curves.values())
    assert min(abs(first - second), 360 - abs(first - second)) > 30, (first, second)  # not two blues (209°, 205°)


def test_a_curve_at_the_top_of_the_axis_is_drawn_whole(page):
    """The peak LR sits at the top of the y axis: the chart's edge cut its line in half before the scale's padding."""
    curves = assert_redrawn(page, [command("cosine"), command("multistep")], defaults()) and page.curves()
    assert min(min(c.ys) for c in curves.values()) >= 1.8 / 2, {label: min(c.ys) for label, c in curves.items()}
    assert page.charts()[0]["renderer"] == "canvas"


def test_served_on_loopback_only(page):
    """As the README starts it (no --server.address): .streamlit/config.toml binds it to 127.0.0.1."""
    with socket.create_connection(("127.0.0.1", page.port), timeout=5):
        pass
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:  # this machine's address on its network
        try:
            probe.connect(("10.255.255.255", 1))
            address = probe.getsockname()[0]
        except OSError:
            address = None
    if not address or address.startswith("127."):
        pytest.skip("no non-loopback interface to try")
    with pytest.raises(OSError):
        socket.create_connection((address, page.port), timeout=5).close()


LAYOUT_JS = """
const cut = [];
for (const pre of document.querySelectorAll('[data-testid="stCode"] pre'))
  if (pre.scrollWidth > pre.clientWidth + 1) cut.push('code: ' + pre.textContent.slice(0, 60));
for (const frame of document.querySelectorAll('iframe[title="explorer.commands.command_lines"]')) {
  const inner = frame.contentDocument;  // the schedules' commands: each line whole, the frame as tall as its lines
  for (const pre of inner.querySelectorAll('pre.command'))
    if (pre.scrollWidth > pre.clientWidth + 1) cut.push('command: ' + pre.textContent.slice(0, 60));
  const last = inner.querySelector('#commands').lastElementChild, bottom = last ? last.getBoundingClientRect().bottom : 0;
  if (bottom > frame.clientHeight + 1) cut.push('commands: ' + Math.round(bottom) + ' > ' + frame.clientHeight);
}
const main = document.querySelector('[data-testid="stMainBlockContainer"]').getBoundingClientRect();
for (const table of document.querySelectorAll('[data-testid="stTable"] table')) {
  const box = table.getBoundingClientRect();
  if (box.right > main.right + 1 || table.parentElement.scrollWidth > table.parentElement.clientWidth + 1)
    cut.push('table: ' + Math.round(box.right) + ' > ' + Math.round(main.right));
  const headers = Array.from(table.querySelectorAll('th')).map(th => th.textContent.trim());
  if (!headers.some(h => h.startsWith('LR budget (LR x epochs)'))) cut.push('table: no LR budget column');
}
return cut;
"""


def test_nothing_is_cut_off_at_1400_px(page):
    page.tab(2)
    many = ", ".join(str(m) for m in range(10, 200, 10))
    page.type_into("c1:multistep:scheduler.lr_scheduler.milestones", many)  # a long command
    page.wait(lambda: "190" in page.commands()[-1], what="the long command")
    page.idle()
    assert page.driver.execute_script(LAYOUT_JS) == []
    page.type_into("c1:multistep:scheduler.lr_scheduler.milestones", "30%, 60%, 80%")  # the default, as shares
    page.wait(lambda: page.commands() == [command("cosine"), command("multistep")], what="the default milestones")
    page.tab(1)


def test_base_lr(page):
    page.type_into(RUN + "optimizer.lr", "0.05")
    wanted = {"1: cosine": ["scheduler=cosine", *SHORT, "optimizer.lr=0.05"],
              "2: multistep": ["scheduler=multistep", *SHORT, "optimizer.lr=0.05"]}
    assert_redrawn(page, [command("cosine", "optimizer.lr=0.05"), command("multistep", "optimizer.lr=0.05")], wanted)
    page.type_into(RUN + "optimizer.lr", "0.1")
    assert_redrawn(page, [command("cosine")], defaults())


FRAME_JS = "return document.querySelector('iframe[title=\"explorer.chart.lr_chart\"]').contentWindow"


def test_numeric_field(page):
    """Also: the chart's iframe stays across the edit (new args redraw it in place: no reload, no re-mount)."""
    page.driver.execute_script(FRAME_JS + ".kept = 'from before the edit'")
    page.type_into("c0:cosine:scheduler.lr_scheduler.eta_min", "0.01")
    edit = "scheduler.lr_scheduler.eta_min=0.01"
    assert_redrawn(page, [command("cosine", edit)], defaults(edit))
    assert page.driver.execute_script(FRAME_JS + ".kept") == "from before the edit"
    page.type_into("c0:cosine:scheduler.lr_scheduler.eta_min", "0")
    assert_redrawn(page, [command("cosine")], defaults())


def test_list_and_numeric_fields_of_the_second_tab(page):
    page.tab(2)
    page.type_into("c1:multistep:scheduler.lr_scheduler.milestones", "50, 100")
    milestones = "scheduler.lr_scheduler.milestones=[50,100]"
    wanted = {**defaults(), "2: multistep": ["scheduler=multistep", *SHORT, milestones]}
    assert_redrawn(page, [command("cosine"), command("multistep", milestones)], wanted)
    page.type_into("c1:multistep:scheduler.lr_scheduler.gamma", "0.3")  # the case: drawn 0.02 after this
    wanted["2: multistep"].append("scheduler.lr_scheduler.gamma=0.3")
    assert_redrawn(page, [command("cosine"), command("multistep", milestones, "scheduler.lr_scheduler.gamma=0.3")],
                   wanted)
    page.type_into("c1:multistep:scheduler.lr_scheduler.milestones", "30%, 60%, 80%")  # the default, as shares
    page.type_into("c1:multistep:scheduler.lr_scheduler.gamma", "0.2")
    assert_redrawn(page, [command("cosine"), command("multistep")], defaults())
    page.tab(1)


def test_switching_the_schedule_then_a_field_of_the_new_one(page):
    page.choose("c0:scheduler", "cosine_restarts")
    wanted = {"1: cosine_restarts": ["scheduler=cosine_restarts", *SHORT], "2: multistep": defaults()["2: multistep"]}
    assert_redrawn(page, [command("cosine_restarts")], wanted)
    labels = page.charts()[0]["legend"]  # (text, left, right, top, bottom): the longer label pushes the next one
    assert [text for text, *_ in labels] == ["1: cosine_restarts", "2: multistep"]
    (_, _, right, top, bottom), (_, left, _, top2, bottom2) = labels
    assert right <= left or bottom <= top2 or bottom2 <= top, labels
    t_0 = "c0:cosine_restarts:scheduler.lr_scheduler.T_0"  # 2.5% of the run: an epochs box once unticked
    page.tick(t_0 + ":follow", False)
    page.wait(lambda: page.has_widget(t_0), what="the T_0 input")
    page.type_into(t_0, "7")  # the case: restarts stayed at 5/20/65
    wanted["1: cosine_restarts"].append("scheduler.lr_scheduler.T_0=7")
    assert_redrawn(page, [command("cosine_restarts", "scheduler.lr_scheduler.T_0=7")], wanted)
    page.choose("c0:scheduler", "cosine")
    assert_redrawn(page, [command("cosine")], defaults())


def test_choice_and_checkbox_fields(page):
    page.choose("c0:scheduler", "onecycle")
    key = "c0:onecycle:scheduler.lr_scheduler."
    page.wait(lambda: page.has_widget(key + "anneal_strategy"), what="onecycle's fields")
    page.choose(key + "anneal_strategy", "linear")
    edits = ["scheduler.lr_scheduler.anneal_strategy=linear"]
    wanted = {"1: onecycle": ["scheduler=onecycle", *SHORT, *edits], "2: multistep": defaults()["2: multistep"]}
    assert_redrawn(page, [command("onecycle", *edits)], wanted)
    page.tick(key + "three_phase", True)
    edits.append("scheduler.lr_scheduler.three_phase=true")
    wanted["1: onecycle"].append(edits[-1])
    assert_redrawn(page, [command("onecycle", *edits)], wanted)
    page.choose("c0:scheduler", "cosine")
    assert_redrawn(page, [command("cosine")], defaults())


def test_an_interpolated_length_unticked_and_edited(page):
    key = "c0:cosine:scheduler.lr_scheduler.T_max"
    page.tick(key + ":follow", False)
    page.wait(lambda: page.has_widget(key), what="the T_max input")
    page.type_into(key, "50")
    edit = "scheduler.lr_scheduler.T_max=50"
    assert_redrawn(page, [command("cosine", edit)], defaults(edit))
    page.tick(key + ":follow", True)
    assert_redrawn(page, [command("cosine")], defaults())


def test_a_nested_field_of_a_composition(page):
    page.choose("c0:scheduler", "warmup_cosine")
    inner = "scheduler.lr_scheduler.scheduler_or_optimizer.eta_min"
    key = "c0:warmup_cosine:"
    page.wait(lambda: page.has_widget(key + inner), what="warmup_cosine's fields")
    page.type_into(key + inner, "0.001")
    page.wait(lambda: page.commands()[0] == command("warmup_cosine", f"{inner}=0.001"), what="the inner eta_min")
    warmup = key + "scheduler.lr_scheduler.warmup_iters"  # 2.5% of the run: an epochs box once unticked
    page.tick(warmup + ":follow", False)
    page.wait(lambda: page.has_widget(warmup), what="the warmup_iters input")
    page.type_into(warmup, "20")
    edits = ["scheduler.lr_scheduler.warmup_iters=20", f"{inner}=0.001"]  # in the form's order: WarmupLR's own first
    wanted = {"1: warmup_cosine": ["scheduler=warmup_cosine", *SHORT, *edits], "2: multistep": defaults()["2: multistep"]}
    assert_redrawn(page, [command("warmup_cosine", *edits)], wanted)
    page.choose("c0:scheduler", "cosine")
    assert_redrawn(page, [command("cosine")], defaults())


def test_adding_and_removing_curves(page):
    page.type_into("curves", "3")
    wanted = {**defaults(), "3: onecycle": ["scheduler=onecycle", *SHORT]}
    assert_redrawn(page, [command("cosine"), command("multistep"), command("onecycle")], wanted)
    page.type_into("curves", "1")
    page.wait(lambda: len(page.commands()) == 1, what="one curve")
    assert_redrawn(page, [command("cosine")], {"1: cosine": defaults()["1: cosine"]})
    page.type_into("curves", "2")
    assert_redrawn(page, [command("cosine"), command("multistep")], defaults())


def test_the_log_scale_draws_the_positive_steps_with_one_tick_format(page):
    page.tick("log_scale", True)
    chart = page.wait(lambda: page.charts()[0]["yType"] == "log" and page.charts()[0], what="a log axis")
    assert_redrawn(page, [command("cosine")], defaults(), log_scale=True)
    ticks = [t for t in chart["yTicks"] if t]  # the chart blanks the labels that would overlap
    assert ticks and all(re.fullmatch(r"\d(\.\d+)?e[-+]\d+", t) for t in ticks), ticks  # not 0.001 beside 1e-5
    page.tick("log_scale", False)
    page.wait(lambda: page.charts()[0]["yType"] == "linear", what="a linear axis")
    assert_redrawn(page, [command("cosine")], defaults())


def test_overlaying_runs(page, tmp_path):
    run = ["data=synthetic", "data.train_size=256", "data.batch_size=32", "trainer.max_epochs=20"]
    first = planned_run(tmp_path / "a", "scheduler=cosine", *run)
    second = planned_run(tmp_path / "b", "scheduler=cosine", *run, "scheduler.lr_scheduler.eta_min=0.02")  # same shape
    for folder in (first, second):
        page.type_into("runs_folder", str(folder))
        overlay = core.overlay_run(folder)
        planned = overlay.planned
        keep = core.display_indices(planned)
        logged = np.array([overlay.logged[s] for s in sorted(overlay.logged)])

        def drawn():
            charts = page.charts()
            curves = page.curves(1) if len(charts) == 2 else {}
            curve = curves.get("run 1: cosine")
            return curve and curve.steps == keep.tolist() and curve.lrs == planned[keep].tolist() and \
                sorted(curve.logged) == [(int(s), float(logged[s])) for s in core.display_indices(logged)]

        page.wait(drawn, timeout=30, what=f"the overlay of {folder.name} drawn as planned and logged")
    # 160 steps: a filled dot on every step of the plan, and the logged LRs as rings, unfilled and much larger
    run, = page.charts()[1]["series"]
    assert run["marker"]["filled"] and not run["ring"]["filled"] and run["ring"]["radius"] >= 2 * run["marker"]["radius"]
    page.type_into("runs_folder", "")
    page.wait(lambda: len(page.charts()) == 1, what="the overlay chart gone")


def test_the_short_horizon_marks_each_of_a_few_dozen_steps(page):
    page.tick("horizon", True)
    page.wait(lambda: "trainer.max_epochs=40" in page.commands()[0], what="the 40-step run")
    overrides = shlex.split(page.commands()[0])[2:]
    assert {"data.train_size=128", "trainer.max_epochs=40"} <= set(overrides)  # one batch of 128 per epoch
    second = shlex.split(page.commands()[1])[2:]
    assert "scheduler=multistep" in second and "trainer.max_epochs=40" in second
    # multistep's milestones are shares (30%, 60%, 80%): they land at steps 12, 24, 32 of the 40, no error
    page.wait(lambda: drawn_equals(page, {"1: cosine": overrides, "2: multistep": second}), timeout=REDRAW_TIMEOUT,
              what="the 40-step cosine and multistep drawn")
    assert page.errors() == []
    drops = [step for step, _, lr in preview(compose_config(*second)).curve]
    lrs = [lr for _, _, lr in preview(compose_config(*second)).curve]
    assert [s for s, a, b in zip(drops[1:], lrs, lrs[1:]) if b < a] == [12, 24, 32]
    for series in page.charts()[0]["series"]:  # one filled dot per step of each curve
        assert series["marker"]["filled"] and series["steps"] == list(range(40)), series["label"]
    page.tab(2)  # a milestone typed in epochs past the 40-step run: its error instead of a curve, cosine stays
    page.type_into("c1:multistep:scheduler.lr_scheduler.milestones", "10, 60")
    page.wait(lambda: any("milestones" in e for e in page.errors()), what="the milestone-outside-the-run error")
    page.wait(lambda: set(page.curves()) == {"1: cosine"} and drawn_equals(page, {"1: cosine": overrides}),
              timeout=REDRAW_TIMEOUT, what="the cosine alone")
    page.type_into("c1:multistep:scheduler.lr_scheduler.milestones", "30%, 60%, 80%")
    page.tab(1)
    page.tick("horizon", False)
    assert_redrawn(page, [command("cosine"), command("multistep")], defaults())


def test_the_benchmark_times_an_edit_to_the_frame_that_showed_it(page):
    """scripts/bench_explore.py --browser's measurement of one edit (benchmarks.explorer.time_edit): the drawing is
    checked against the previews, and the frame that showed it (chart.js's stamp) lies between the keystroke and the
    poll that saw it."""
    from benchmarks.explorer import browser_edits, time_edit

    shown, polled, cpu, draw_ms = time_edit(page, browser_edits(page, [])["typed number"], 0, {})
    assert 0 < shown <= polled + 0.05 and cpu > 0 and draw_ms >= 0
    assert page.commands()[0] == command("cosine", "scheduler.lr_scheduler.eta_min=0.001")
