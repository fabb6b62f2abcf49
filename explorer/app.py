"""Schedule explorer: pick learning-rate schedules, edit every field of their YAML, watch the exact curves.

    .venv/bin/streamlit run scripts/explore.py
    .venv/bin/streamlit run scripts/explore.py -- --runs multiruns     # the runs folder filled in

Each curve is composed from the overrides the widgets set (the `python train.py ...` line shown under
the chart), previewed by the project's own factory (engine.training.schedule_preview.preview), and drawn per
optimizer step; finished runs overlay the LR they logged on the curve their own config plans. The app
writes nothing: downloads go to the browser. See docs/explorer.md.
"""
from __future__ import annotations

import argparse
import contextlib
import sys
from pathlib import Path
from typing import Any, Optional

import numpy as np
import pandas as pd
import streamlit as st

from common.errors import UserError
from engine.platform.errors import paragraph
from explorer import core
from explorer.chart import MARKED_STEPS, Series, chart_args, colour, lr_chart
from explorer.commands import command_lines

DEFAULT_CURVES = ("cosine", "multistep", "onecycle", "warmup_cosine", "plateau", "cyclic")
MAX_CURVES = len(DEFAULT_CURVES)
HORIZON_FIELDS = ("trainer.max_epochs", "data.train_size", "data.val_split", "trainer.graph")
LAUNCHER = Path(__file__).resolve().parents[1] / "scripts" / "explore.py"  # what `streamlit run` is given


def number_widget(label: str, value: float, key: str, minimum: Optional[float] = None, maximum: Optional[float] = None,
                  step: Optional[float] = None, integer: bool = False, help: Optional[str] = None,
                  disabled: bool = False, slider: Optional[tuple] = None, ui: Any = st) -> float:
    """st.number_input with bounds widened to hold `value` (a YAML may hold what our ranges do not expect);
    with `slider` (low, high), a slider under it over that range edits the same value (typing stays possible:
    the typed value may leave the slider's range, which then shows its nearest end).

    A cleared box, or a fraction where whole numbers are wanted (`integer`: epochs 2.5), is refused at the field
    and the last value kept: Streamlit's integer input silently truncated 2.5 to 2, and a cleared box crashed the
    page. The input is a float one for that reason; the value returned is an int when `integer`."""
    cast = int if integer else float
    value = cast(value)
    minimum = None if minimum is None or value < minimum else float(minimum)
    maximum = None if maximum is None or value > maximum else float(maximum)
    slider_key, last_key, refused_key = f"{key}:slider", f"{key}:last", f"{key}:refused"

    def clamp(v: float) -> float:
        return min(max(cast(v), cast(slider[0])), cast(slider[1]))

    def settle() -> None:
        typed, last = st.session_state[key], st.session_state.get(last_key, value)
        if typed is None or (integer and not float(typed).is_integer()):
            st.session_state[refused_key] = (f"`{label}`: " + ("an empty field is no value" if typed is None else
                                             f"{typed:g} is not a whole number") + f"; kept {last:g}.")
            st.session_state[key] = float(last)
        if slider:
            st.session_state[slider_key] = clamp(st.session_state[key])

    def to_number() -> None:
        st.session_state[key] = float(st.session_state[slider_key])

    # Once the slider has set the value through the session state, passing `value` again would make Streamlit warn.
    number = ui.number_input(label, value=None if key in st.session_state else float(value), min_value=minimum,
                             max_value=maximum, step=float(step or 1), format="%g", key=key, help=help,
                             disabled=disabled, on_change=settle, persist_state="page")
    number = cast(value if number is None else number)
    st.session_state[last_key] = number
    refused = st.session_state.pop(refused_key, None)
    if refused:
        ui.error(refused)
    if slider:
        ui.slider(label, min_value=cast(slider[0]), max_value=cast(slider[1]), step=cast(step or 1),
                  value=None if slider_key in st.session_state else clamp(number), key=slider_key,
                  on_change=to_number, disabled=disabled, label_visibility="collapsed", persist_state="page")
    return number


def run_settings() -> tuple[str, str, dict, bool, int]:
    """Sidebar: data and optimizer choices and the run length; returns (data, optimizer, run overrides, log, curves)."""
    st.sidebar.header("Run")
    data = st.sidebar.selectbox("data", core.group_choices("data"), index=core.group_choices("data").index("cifar100"))
    optimizer = st.sidebar.selectbox("optimizer", core.group_choices("optimizer"),
                                     index=core.group_choices("optimizer").index("sgd"))
    _, _, run_defaults = core.defaults(DEFAULT_CURVES[0], data, optimizer)
    run = {}
    with st.sidebar:
        labels = {"trainer.max_epochs": "epochs", "data.train_size": "dataset size (training images)",
                  "data.batch_size": "batch size", "data.val_split": "validation split (images held out)",
                  "optimizer.lr": "base LR (optimizer.lr)"}
        horizon = st.session_state.get("horizon", False)
        for key in core.RUN_FIELDS:
            held = horizon and key in HORIZON_FIELDS  # set by the short horizon below; kept for when it is off
            default = run_defaults[key]
            widget_key = f"run:{data}:{optimizer}:{key}"
            if key == "trainer.graph":
                value = st.checkbox("graph mode (drops the last partial batch)", value=bool(default), key=widget_key,
                                    disabled=held)
            elif default is None:
                continue  # e.g. a data config without val_split
            elif key == "optimizer.lr":
                step = 10 ** np.floor(np.log10(default)) / 10 if default > 0 else 1e-4  # 0.1 -> 0.01
                value = number_widget(labels[key], default, widget_key, minimum=0.0, step=step)
            else:
                value = number_widget(labels[key], default, widget_key, minimum=0 if key == "data.val_split" else 1,
                                      integer=True, disabled=held,
                                      slider=(1, max(400, default)) if key == "trainer.max_epochs" else None)
            if key == "trainer.max_epochs":
                st.session_state["run_epochs"] = int(value)  # the range of the length sliders
            if value != default and not held:
                run[key] = value
        st.header("Chart")
        log_scale = st.toggle("log-scale LR axis", value=False, key="log_scale")
        # The seed visualiser's view: a few dozen scheduler steps, one per epoch, each drawn as a marker. A real run
        # (one batch per epoch), so every length reads in steps and the command trains exactly what is drawn.
        if st.toggle("short horizon: 1 optimizer step per epoch", key="horizon",
                     help="A run of a few dozen steps, each marked: what a schedule does step by step."):
            steps = st.slider("steps (= epochs)", min_value=5, max_value=MARKED_STEPS, value=40, key="horizon_steps")
            batch = run.get("data.batch_size", run_defaults["data.batch_size"])
            run.update({"trainer.max_epochs": steps, "data.train_size": batch})
            if run_defaults.get("data.val_split"):
                run["data.val_split"] = 0

        curves = int(st.number_input("schedules to compare", min_value=1, max_value=MAX_CURVES, value=2, step=1,
                                     key="curves"))
    return data, optimizer, run, log_scale, curves


def field_widget(item: core.Field, resolved: Any, key: str, ui: Any = st) -> Any:
    """The widget for one scheduler field (drawn by `ui`: st, or Recall for a closed tab); returns the value it
    holds (the YAML default when untouched)."""
    label = item.name.replace("_", "\\_")  # markdown: `_target_` is not italics
    if item.interpolation:
        shown = f" (= {resolved:g})" if isinstance(resolved, (int, float)) else ""
        follow = ui.checkbox(f"{item.name} follows `{item.interpolation}`{shown}", value=True, key=f"{key}:follow",
                             persist_state="page")
        if follow or not isinstance(resolved, (int, float)):
            st.session_state.pop(f"{key}:from", None)
            return item.default
        # Unticked but not yet edited, the value keeps tracking the run (it froze at the old epochs); once typed
        # over, it stays.
        start = st.session_state.setdefault(f"{key}:from", resolved)
        if start != resolved and st.session_state.get(key, start) == start:
            st.session_state.pop(key, None)  # the input starts again from the resolved value
            kept().pop(key, None)
            st.session_state[f"{key}:from"] = resolved
        value = number_widget(f"{item.name} (epochs)" if item.kind == "length" else label, resolved, key,
                              minimum=item.minimum, step=item.step, ui=ui)
        return core.tidy_number(value) if item.kind == "length" else value
    if item.kind == "bool":
        return ui.checkbox(label, value=item.default, key=key, persist_state="page")
    if item.kind == "choice":
        return ui.selectbox(label, item.choices, index=item.choices.index(item.default), key=key,
                            format_func=lambda v: "null" if v is None else str(v), persist_state="page")
    if item.kind == "length":
        epochs = st.session_state.get("run_epochs", 200)
        return core.tidy_number(number_widget(f"{label} (epochs)", item.default, key, minimum=item.minimum, step=1.0,
                                              slider=(0, max(epochs, item.default)), ui=ui))
    if item.kind in ("int", "float"):
        fraction = item.minimum == 0 and item.maximum == 1  # start_factor, pct_start, warmup_factor, ...
        return number_widget(label, item.default, key, item.minimum, item.maximum, item.step, integer=item.kind == "int",
                             slider=(0.0, 1.0) if fraction else None, ui=ui)
    if item.kind == "list":
        text = ui.text_input(f"{label} (comma-separated)", value=", ".join(core.hydra_value(v) for v in item.default),
                             key=key, persist_state="page")
        try:
            return core.parse_list(text)
        except UserError as error:
            raise core.BadValue(item, f"[{text.strip().strip('[]')}]", str(error)) from None
    if item.kind == "nullable":
        text = ui.text_input(f"{label} (null or a number)", value="null", key=key, persist_state="page") or "null"
        try:
            parsed = core.parse_hydra_value(text)
        except UserError as error:
            raise core.BadValue(item, text, str(error)) from None
        if parsed is not None and (isinstance(parsed, bool) or not isinstance(parsed, (int, float))):
            raise core.BadValue(item, text, f"{text!r} is neither null nor a number.")  # Noam's factor: abc
        return parsed
    return ui.text_input(label, value=str(item.default), key=key, persist_state="page")


def scheduler_editor(slot: int, data: str, optimizer: str, run: dict, choices: list, ui: Any = st) -> core.Setup:
    """One tab: the scheduler choice and a widget per field of its YAML, nested nodes indented under headings
    (`ui`: st for the open tab; Recall for the others, which reads their values without drawing them)."""
    default = DEFAULT_CURVES[slot] if DEFAULT_CURVES[slot] in choices else choices[0]
    scheduler = ui.selectbox("schedule (conf/scheduler)", choices, index=choices.index(default), key=f"c{slot}:scheduler",
                             persist_state="page")  # kept while the tab is gone (2 -> 1 -> 2 schedules)
    node, _, run_defaults = core.defaults(scheduler, data, optimizer)
    max_epochs = float(run.get("trainer.max_epochs", run_defaults["trainer.max_epochs"]))
    setup = core.Setup(scheduler, data, optimizer, dict(run))
    resolved = core.resolved_scheduler(tuple(setup.overrides()))  # interpolations as this run resolves them
    columns = ui.columns(3)
    column = 0
    for item in core.scheduler_form(node):
        if isinstance(item, core.Section):
            ui.markdown(f"{'&nbsp;' * 4 * (item.depth - 1)}**{item.label}** <small>`{item.key}`</small>",
                        unsafe_allow_html=True)
            columns, column = ui.columns(3), 0
            continue
        with columns[column % 3]:
            try:
                shown = core.in_epochs(core.select(resolved, item.key), max_epochs)  # a share of the run (30%) in epochs
                value = field_widget(item, shown, f"c{slot}:{scheduler}:{item.key}", ui)
            except core.BadValue as bad:  # shown at the field; the other fields, the command and the curve's error stay
                bad.curve = f"{slot + 1}: {scheduler}"
                ui.error(bad.message)
                setup.bad.append(bad)
                setup.edits[item.key] = bad  # the command shows what was typed
                column += 1
                continue
        column += 1
        if value != item.default:
            setup.edits[item.key] = value
    return setup


def draw(planned: list, total_steps: int, steps_per_epoch: int, log_scale: bool, key: str,
         labels: Optional[list] = None) -> None:
    """The chart (explorer.chart) of `planned` series (chart.Series, with their logged rings if any); `labels`: every
    label in colour order (every tab, those that errored too, so each keeps its colour)."""
    lr_chart(key, **chart_args(planned, steps_per_epoch, total_steps, log_scale, labels))


def shown(label: str, lrs: np.ndarray, keep: Optional[np.ndarray] = None) -> Series:
    """A curve of one LR per step as drawn: the min/max envelope of core.display_indices (peaks, drops, restarts
    exact; every step of a run of up to 2,000 steps)."""
    keep = core.display_indices(lrs) if keep is None else keep
    return Series(label, keep, lrs[keep])


def show_curves(setups: dict, log_scale: bool) -> dict:
    """Chart, key points, commands and downloads of the configured schedules ({tab number: Setup});
    returns {label: Computed}."""
    computed = {f"{slot}: {s.scheduler}": core.Computed(tuple(s.overrides()), error=" ".join(b.message for b in s.bad))
                if s.bad else core.compute(tuple(s.overrides())) for slot, s in setups.items()}
    good = {label: c for label, c in computed.items() if c.error is None}
    for label, c in computed.items():
        if c.error:
            st.error(f"**{label}**\n\n```\n{c.error}\n```")
        elif c.warning:  # a flat curve, e.g. multistep with its milestones cleared: plot_schedules.py warns too
            st.warning(f"**{label}**: {c.warning}")
    if good:
        first = next(iter(good.values())).preview
        draw([shown(label, c.lrs, c.shown_steps) for label, c in good.items()],
             max(len(c.lrs) for c in good.values()), first.steps_per_epoch, log_scale, "chart:schedules",
             labels=list(computed))  # every tab keeps its colour when another curve errors
        if log_scale and any((c.lrs[c.shown_steps] <= 0).any() for c in good.values()):
            st.caption("Steps with LR 0 cannot sit on a log scale and are left out of the chart (not of the table).")
        st.caption(f"{first.steps_per_epoch} optimizer steps per epoch x {len(first.lrs) // first.steps_per_epoch} "
                   f"epochs = {len(first.lrs):,} steps per curve; the chart keeps each stretch's minimum and maximum "
                   f"(≤ {core.DISPLAY_POINTS:,} points per curve), the table and the downloads every step.")
        st.subheader("Key points")
        table = pd.DataFrame([{"curve": label, **c.key_row} for label, c in good.items()])
        # st.table wraps its headers: st.dataframe's grid cut the last column ("LR budget") off at 1400 px
        numbers = [c for c in table.columns if c.startswith(("peak LR", "LR"))]
        # formatted here, not by a pandas Styler: marshalling a Styler took ~0.1 s of every rerun
        st.table(table.assign(**{c: table[c].map("{:.5g}".format) for c in numbers}), hide_index=True)
    st.subheader("From picture to experiment")
    labels = list(computed)
    line = core.multirun_command([c.overrides for c in computed.values()]) if len(computed) > 1 else None
    command_lines("commands:schedules",
                  [{"label": label, "color": colour(label, labels), "line": core.train_command(c.overrides)}
                   for label, c in computed.items()],
                  sweep=line or None,
                  sweep_note=None if line or len(computed) < 2 else (
                      "These curves differ in ways one sweep cannot express (a sweep runs the cartesian product of "
                      "its values): run the lines above one by one."))
    downloads(computed)
    st.caption("The same CSV and JSON from the command line: replace `python train.py` with "
               "`python scripts/plot_schedules.py` in any line above.")
    return computed


def downloads(computed: dict) -> None:
    """The CSV and JSON of one curve, chosen in a box: a pair of buttons per curve was most of the elements an edit
    re-sent and the browser re-rendered (docs/explorer.md, "Exactness and speed")."""
    left, middle, right, _ = st.columns([2, 1, 1, 2], vertical_alignment="bottom")
    label = left.selectbox("download the curve of", list(computed), key="download_curve")
    c = computed[label]
    if not c.preview:  # kept in place, so the page does not jump while a value is being fixed
        for column, kind in ((middle, "csv"), (right, "json")):
            column.button(f"{label.split(': ', 1)[1]}.{kind}", disabled=True, key=f"{kind}:{label}:off",
                          help="No curve to download: fix the error above.")
        return
    # Callables: the 78,200-line CSV is built when clicked, not on every rerun.
    middle.download_button(f"{c.preview.name}.csv", lambda shown=c.preview: shown.csv_text,
                           file_name=f"{c.preview.name}.csv", mime="text/csv", key=f"csv:{label}")
    right.download_button(f"{c.preview.name}.json", lambda shown=c.preview: shown.json_text,
                          file_name=f"{c.preview.name}.json", mime="application/json", key=f"json:{label}")


@st.fragment
def runs(log_scale: bool, runs_folder: str) -> None:
    """The real runs' section: a fragment, so choosing a folder or a run reruns only this."""
    st.session_state.setdefault("explorer", {})["overlays"] = show_runs(log_scale, runs_folder)


def show_runs(log_scale: bool, runs_folder: str = "") -> list:
    """Real runs: the LR each chosen run logged, laid over the curve its own config plans."""
    st.header("Real runs")
    folder = st.text_input("runs folder (runs/, multiruns/ or one run directory)", value=runs_folder, key="runs_folder",
                           placeholder="e.g. runs or multiruns/2026-01-01",
                           on_change=lambda: st.session_state.pop("runs_chosen", None))  # a new folder: its first run
    if not folder.strip():
        st.caption("Give a folder to overlay the `lr` each run logged to TensorBoard on the curve planned from its "
                   "`.hydra/config.yaml`.")
        return []
    try:
        runs = core.find_runs(Path(folder.strip()))
    except UserError as error:
        st.error(paragraph(str(error)))
        return []
    if not runs:
        st.warning(f"No run directories (with .hydra/config.yaml) under {folder}.")
        return []
    root = Path(folder.strip()).expanduser()
    names = {str(r): f"{core.run_schedule_name(r)}: {r.relative_to(root) if r != root else r.name}" for r in runs}
    chosen = st.multiselect("runs to overlay", list(names), default=list(names)[:1], key="runs_chosen",
                            format_func=names.get)
    overlays, planned_curves = [], []
    for number, name in enumerate(chosen, start=1):
        try:
            overlay = core.overlay_run(Path(name))
        except UserError as error:
            st.error(paragraph(str(error)))
            continue
        overlays.append(overlay)
        label = f"run {number}: {core.run_schedule_name(overlay.run_dir)}"
        curve = shown(label, overlay.planned)
        steps = np.array(sorted(overlay.logged))
        rings = core.display_indices(np.array([overlay.logged[s] for s in steps]))  # downsampled like the lines
        curve.logged_steps, curve.logged_lrs = steps[rings], np.array([overlay.logged[s] for s in steps[rings]])
        planned_curves.append(curve)
    if overlays:
        draw(planned_curves, max(len(o.planned) for o in overlays), overlays[0].steps_per_epoch, log_scale,
             "chart:runs")
        # st.table and the commands component, as above: st.dataframe's grid and st.code's highlighter are scripts the
        # browser fetches when first shown, ~0.5 s of the first overlay
        table = pd.DataFrame([{"#": f"run {i}", **o.summary()} for i, o in enumerate(overlays, start=1)])
        differences = ("max |logged - planned|", "max |logged - float32(planned)|")
        st.table(table.assign(**{c: table[c].map("{:.3g}".format) for c in differences}), hide_index=True)
        st.caption("Lines: the LR each run's own config plans; rings: the LR it logged (downsampled like the lines). "
                   "TensorBoard stores scalars as float32: a plan that was applied exactly differs from the log by "
                   "float32 rounding only, and `max |logged - float32(planned)|` is 0.")
        labels = [c.label for c in planned_curves]
        command_lines("commands:runs", [{"label": label, "color": colour(label, labels), "line": core.train_command(o.overrides)}
                                        for label, o in zip(labels, overlays)],
                      sweep=core.multirun_command([o.overrides for o in overlays]) if len(overlays) > 1 else None)
    return overlays


def command_line() -> argparse.Namespace:
    """Options after `--` (`streamlit run scripts/explore.py -- --runs multiruns`); none under AppTest or import."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", default="", metavar="FOLDER", help="a runs/ or multiruns/ folder to offer for overlay")
    launched = Path(sys.argv[0]).resolve() == LAUNCHER  # streamlit run sets argv to [script, args]
    args = sys.argv[1:] if launched else []
    return parser.parse_args(args[1:] if args[:1] == ["--"] else args)  # click drops the `--`; a shell may not


def remember_tab() -> None:
    st.session_state["open_tab"] = int(str(st.session_state["tabs"]).split(":")[0]) - 1


def kept() -> dict:
    """The last value of every tab widget drawn ({key: value}): Streamlit forgets a widget's value while it is not
    drawn (a closed tab, a tab removed by `schedules to compare`), so Drawn keeps it here for Recall and for when
    the widget is drawn again."""
    return st.session_state.setdefault("kept", {})


class Drawn:
    """`st` for the open tab: each widget is drawn as st draws it, starting from its kept value when Streamlit has
    forgotten it, and its value is kept."""

    def __getattr__(self, name: str) -> Any:
        widget = getattr(st, name)
        if name not in ("number_input", "slider", "checkbox", "text_input", "selectbox"):
            return widget

        def drawn(*args: Any, key: str = "", **kwargs: Any) -> Any:
            if key not in st.session_state and key in kept():
                st.session_state[key] = kept()[key]
            value = kept()[key] = widget(*args, key=key, **kwargs)
            return value
        return drawn


class Recall:
    """Stands in for `st` in a closed tab: each widget call returns the value its widget last held (kept by Drawn)
    or the default it would start from, and draws nothing."""

    def number_input(self, label: str, value: Any = None, key: str = "", **_: Any) -> Any:
        return kept().get(key, value)

    slider = number_input

    def checkbox(self, label: str, value: bool = False, key: str = "", **_: Any) -> bool:
        return kept().get(key, value)

    def text_input(self, label: str, value: str = "", key: str = "", **_: Any) -> str:
        return kept().get(key, value)

    def selectbox(self, label: str, options: list, index: int = 0, key: str = "", **_: Any) -> Any:
        return kept().get(key, options[index])

    def columns(self, count: int) -> list:
        return [contextlib.nullcontext()] * count

    def markdown(self, *_: Any, **__: Any) -> None:
        pass

    error = markdown


@st.fragment
def schedules(data: str, optimizer: str, run: dict, log_scale: bool, count: int, too_long: Optional[str]) -> None:
    """The tabs, the chart, key points and commands: a fragment, so an edit in a tab reruns only this (the sidebar
    and the runs below keep their elements); a sidebar edit reruns `page`, and this with the new run."""
    labels = [f"{i + 1}: {st.session_state.get(f'c{i}:scheduler', kept().get(f'c{i}:scheduler', DEFAULT_CURVES[i]))}"
              for i in range(count)]
    # Only the open tab's widgets run (on_change: a tab switch reruns): six tabs of widgets were most of a rerun.
    # The others' values are read by Recall. The open tab is remembered by number: its label changes with its schedule.
    open_slot = min(st.session_state.get("open_tab", 0), count - 1)
    tabs = st.tabs(labels, key="tabs", default=labels[open_slot], on_change=remember_tab)
    setups, choices = {}, core.scheduler_choices()
    for slot, tab in enumerate(tabs):
        with tab:
            try:
                setups[slot + 1] = scheduler_editor(slot, data, optimizer, run, choices, Drawn() if tab.open else Recall())
            except UserError as error:  # e.g. a list field Hydra cannot parse
                st.error(paragraph(str(error)))
    if too_long:  # refused at once: the run's length is no curve's fault, and computing it would not end
        st.error(paragraph(too_long))
    computed = {} if too_long else show_curves(setups, log_scale)
    st.session_state.setdefault("explorer", {})["computed"] = computed  # what tests read back


def main() -> None:
    options = command_line()
    st.set_page_config(page_title="LR schedule explorer", layout="wide")
    st.title("Learning-rate schedule explorer")
    st.caption("Exact curves from the project's own factory (schedulers.preview.lr_curve), stepped as train.py steps "
               "them. Edit any field; invalid settings show the config error train.py would print.")
    page(options.runs)


@st.fragment
def page(runs_folder: str) -> None:
    """Everything under the title: the sidebar, the schedules and the real runs (fragments of their own inside this
    one). A fragment too, so that a sidebar edit reruns this rather than the script: the elements re-sent are nearly
    the same, but the browser handled a whole run's start and end (every element marked stale, then cleared) in
    long tasks before it drew the chart. Short horizon 0.42 -> 0.31 s in an A/B at load 2-5 (docs/explorer.md)."""
    data, optimizer, run, log_scale, count = run_settings()
    too_long = core.run_too_long(tuple(core.Setup(DEFAULT_CURVES[0], data, optimizer, run).overrides()))
    if too_long:
        st.sidebar.error(paragraph(too_long))
    schedules(data, optimizer, run, log_scale, count, too_long)
    runs(log_scale, runs_folder)


def run() -> None:
    """One rerun of the app (Streamlit runs scripts/explore.py, which calls this, after every edit)."""
    try:
        main()
    except UserError as error:  # never a traceback for a bad setting
        st.error(paragraph(str(error)))
