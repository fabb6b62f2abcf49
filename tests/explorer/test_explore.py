"""scripts/explore.py, the schedule explorer: headless (Streamlit's AppTest) and in a real headless Chromium."""
import csv
import io
import json
import shlex
from pathlib import Path

import numpy as np
import pytest
from omegaconf import OmegaConf
from streamlit.testing.v1 import AppTest

from engine.config.compose import compose_config
from engine.training.run import steps_per_epoch
from schedulers.preview import lr_curve
from explorer import core
from scripts import plot_schedules

ROOT = Path(__file__).resolve().parents[2]
APP = ROOT / "scripts" / "explore.py"
RUN_KEY = "run:cifar100:sgd:"
SHORT_RUN = {"data.train_size": 5000}  # 200 epochs x 40 steps: every default schedule is valid, reruns stay cheap
EPOCHS = 200


@pytest.fixture(scope="module")
def app():
    """One app for the module (the first run imports OneFlow and composes); tests set what they need."""
    at = AppTest.from_file(str(APP), default_timeout=180).run()
    for key, value in SHORT_RUN.items():
        at.number_input(key=RUN_KEY + key).set_value(value)
    return at.run()


def checked(at: AppTest) -> AppTest:
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def computed(at: AppTest) -> dict:
    return at.session_state["explorer"]["computed"]


def curve(at: AppTest, slot: int = 1) -> list:
    return next(c for label, c in computed(at).items() if label.startswith(f"{slot}: ")).preview.curve


def yaml_leaves(node, prefix="scheduler"):
    """Override keys of every value in a scheduler YAML (nested `_target_` nodes and lists of them walked)."""
    for name, value in node.items():
        key = f"{prefix}.{name}"
        if isinstance(value, dict):
            yield from yaml_leaves(value, key)
        elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            for i, child in enumerate(value):
                yield from yaml_leaves(child, f"{key}.{i}")
        else:
            yield key


def test_every_schedule_renders_with_a_widget_for_every_field(app):
    spe = steps_per_epoch(compose_config(*(f"{k}={v}" for k, v in SHORT_RUN.items())))
    app.number_input(key="curves").set_value(1)
    for choice in core.scheduler_choices():
        app.selectbox(key="c0:scheduler").set_value(choice)
        checked(app)
        assert not app.error, (choice, [e.value for e in app.error])
        assert len(curve(app)) == EPOCHS * spe, choice
        widget_keys = {w.key for w in [*app.number_input, *app.text_input, *app.selectbox, *app.checkbox]}
        node = OmegaConf.to_container(compose_config(f"scheduler={choice}").scheduler, resolve=False)
        for key in yaml_leaves(node):
            assert f"c0:{choice}:{key}" in widget_keys or f"c0:{choice}:{key}:follow" in widget_keys, (choice, key)
        assert app.get("component_instance"), choice
    app.selectbox(key="c0:scheduler").set_value("cosine")
    app.number_input(key="curves").set_value(2)
    checked(app)


def test_editing_a_field_recomputes_the_exact_curve_and_the_command(app):
    before = curve(app)
    app.number_input(key="c0:cosine:scheduler.lr_scheduler.eta_min").set_value(0.01)
    checked(app)
    after = curve(app)
    assert after != before and min(lr for _, _, lr in after) == pytest.approx(0.01)
    command = commands(app)[0]
    assert command.endswith("scheduler.lr_scheduler.eta_min=0.01") and "data.train_size=5000" in command
    cfg = compose_config(*shlex.split(command)[2:])
    assert after == lr_curve(cfg, steps_per_epoch=steps_per_epoch(cfg))  # the factory's curve, step for step
    app.number_input(key="c0:cosine:scheduler.lr_scheduler.eta_min").set_value(0.0)
    checked(app)


def components(app: AppTest, name: str) -> list:
    """The protos of the component `name` (lr_chart, command_lines) on the page, in page order."""
    return [e.proto for e in app.get("component_instance") if e.proto.component_name.endswith("." + name)]


def commands(app: AppTest) -> list:
    """The schedules' commands as the app sent them to be shown (explorer/commands.py), then the one-sweep line."""
    shown = components(app, "command_lines")
    if not shown:
        return []
    args = json.loads(shown[0].json_args)
    return [c["line"] for c in args["commands"]] + ([args["sweep"]] if args["sweep"] else [])


def sent(app: AppTest, chart: int = 0) -> tuple:
    """(meta, {label: (steps, lrs, logged steps, logged lrs)}): what the app gave a chart's component to draw."""
    proto = components(app, "lr_chart")[chart]
    meta = json.loads(proto.json_args)["meta"]
    values = np.frombuffer(next(a.bytes for a in proto.special_args if a.key == "data"), dtype="<f8")
    out, at = {}, 0
    for series in meta["series"]:
        parts = []
        for n in (series["points"], series["points"], series["logged"], series["logged"]):
            parts.append(values[at:at + n])
            at += n
        out[series["label"]] = tuple(parts)
    assert at == len(values)
    return meta, out


def test_the_chart_is_sent_each_curves_exact_envelope_and_the_log_scale_its_positive_steps(app):
    """The component draws what it is sent: every curve's min/max envelope (display_indices) of the exact curve."""
    for log_scale in (False, True):
        app.toggle(key="log_scale").set_value(log_scale)
        checked(app)
        meta, series = sent(app)
        assert meta["log"] is log_scale and not meta["marked"] and meta["totalSteps"] == len(curve(app))
        assert [s["color"] for s in meta["series"]] == ["#0072B2", "#E69F00"]
        for slot, (steps, lrs, logged_steps, _) in enumerate(series.values(), start=1):
            full = np.array([lr for _, _, lr in curve(app, slot)])
            keep = core.display_indices(full)
            keep = keep[full[keep] > 0] if log_scale else keep
            assert steps.tolist() == keep.tolist() and lrs.tolist() == full[keep].tolist() and not len(logged_steps)
    app.toggle(key="log_scale").set_value(False)
    checked(app)


def test_nested_fields_of_a_composition_are_editable(app):
    app.selectbox(key="c0:scheduler").set_value("sequential")
    checked(app)
    app.checkbox(key="c0:sequential:scheduler.lr_scheduler.schedulers.0.total_iters:follow").uncheck()  # 2.5% of the run
    checked(app)
    app.number_input(key="c0:sequential:scheduler.lr_scheduler.schedulers.0.total_iters").set_value(2.0)
    app.text_input(key="c0:sequential:scheduler.lr_scheduler.milestones").set_value("2, 150")
    checked(app)
    assert not app.error, [e.value for e in app.error]
    command = commands(app)[0]
    assert "scheduler.lr_scheduler.schedulers.0.total_iters=2" in command
    assert "'scheduler.lr_scheduler.milestones=[2,150]'" in command
    spe = len(curve(app)) // EPOCHS
    lrs = [lr for _, _, lr in curve(app)]
    assert lrs[2 * spe] == pytest.approx(0.1) and lrs[2 * spe - 1] < 0.1  # warmup ends at the edited 2 epochs


def test_invalid_values_show_the_config_error_not_a_traceback(app):
    app.selectbox(key="c0:scheduler").set_value("multistep")
    checked(app)
    app.text_input(key="c0:multistep:scheduler.lr_scheduler.milestones").set_value("60, 250")
    checked(app)  # 250 lies outside the 200-epoch run
    errors = [e.value for e in app.error]
    assert len(errors) == 1 and "scheduler.lr_scheduler.milestones = [60, 250]" in errors[0]
    assert "trainer.max_epochs = 200" in errors[0] and "Traceback" not in errors[0]
    assert app.get("component_instance"), "the other curve is still drawn"
    app.text_input(key="c0:multistep:scheduler.lr_scheduler.milestones").set_value("5, [oops")
    checked(app)
    assert any("is not a value Hydra can parse" in e.value for e in app.error)
    app.text_input(key="c0:multistep:scheduler.lr_scheduler.milestones").set_value("5, 10")
    checked(app)
    assert not app.error
    app.selectbox(key="c0:scheduler").set_value("cosine")
    checked(app)


def test_the_copied_command_through_plot_schedules_writes_the_same_files(app, tmp_path):
    app.selectbox(key="c0:scheduler").set_value("warmup_cosine")
    checked(app)
    app.checkbox(key="c0:warmup_cosine:scheduler.lr_scheduler.warmup_iters:follow").uncheck()  # 2.5% of the run
    checked(app)
    app.number_input(key="c0:warmup_cosine:scheduler.lr_scheduler.warmup_iters").set_value(3.5)
    app.number_input(key=RUN_KEY + "data.val_split").set_value(1000)  # steps per epoch: the run builder's count
    checked(app)
    shown = next(c for label, c in computed(app).items() if label.startswith("1: ")).preview
    command = commands(app)[0]
    assert command.startswith("python train.py ") and "data.val_split=1000" in command
    plot_schedules.main([*shlex.split(command)[2:], "--out", str(tmp_path)])
    assert (tmp_path / "warmup_cosine.csv").read_text() == shown.csv_text
    assert (tmp_path / "warmup_cosine.json").read_text() == shown.json_text
    rows = list(csv.reader(io.StringIO(shown.csv_text)))
    assert len(rows) - 1 == EPOCHS * 32 and rows[0] == ["step", "epoch", "lr"]  # (5000 - 1000) / 128 -> 32 steps
    app.number_input(key=RUN_KEY + "data.val_split").set_value(0)
    app.selectbox(key="c0:scheduler").set_value("cosine")
    checked(app)


def test_a_real_runs_logged_lr_matches_its_planned_curve(app, tmp_path, train):
    sweep = tmp_path / "multiruns"
    result = train("--multirun", "scheduler=onecycle,plateau", "data=synthetic", "model=tiny", "data.train_size=256",
                   "data.batch_size=32", "trainer.max_epochs=2", "trainer.progress=false", "device=cpu",
                   f"hydra.sweep.dir={sweep}", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    app.text_input(key="runs_folder").set_value(str(sweep))
    checked(app)
    runs = app.multiselect(key="runs_chosen")
    assert len(runs.options) == 2 and [o.split(":")[0] for o in runs.options] == ["onecycle", "plateau"]
    runs.set_value([str(run) for run in core.find_runs(sweep)])
    checked(app)
    assert not app.error, [e.value for e in app.error]
    overlays = app.session_state["explorer"]["overlays"]
    assert sorted(len(o.planned) and OmegaConf.load(o.run_dir / ".hydra/config.yaml").scheduler.name for o in overlays) == \
        ["onecycle", "plateau"]
    for o in overlays:
        assert len(o.logged) == len(o.planned) == 2 * 8
        assert o.max_float32_difference == 0.0  # exactly the plan, as TensorBoard's float32 stores it
        assert o.max_abs_difference < 1e-7 * o.planned.max()
    assert [o.monitor for o in overlays if o.monitor] == ["val/loss"]  # the plateau run replayed its own metric
    shown = json.loads(components(app, "command_lines")[1].json_args)  # the runs' commands, after the schedules'
    assert [c["label"] for c in shown["commands"]] == ["run 1: onecycle", "run 2: plateau"]
    assert shown["sweep"].startswith("python train.py --multirun") and "scheduler=onecycle,plateau" in shown["sweep"]
    app.text_input(key="runs_folder").set_value("")
    checked(app)


def test_fast_compose_equals_compose_config_on_every_kind_of_field():
    """Nested nodes, lists of nodes, lists, null, strings, bools, numbers: every field of these schedules set."""
    run = ["trainer.max_epochs=150", "data.val_split=1000", "trainer.graph=true", "optimizer.lr=0.05"]
    for choice in ("chained", "sequential", "warmup_cosine", "warmup_plateau", "noam", "onecycle"):
        resolved = OmegaConf.to_container(compose_config(f"scheduler={choice}").scheduler, resolve=True)
        edits = [f"{key}={core.hydra_value(core.select({'scheduler': resolved}, key))}"
                 for key in yaml_leaves(resolved) if not key.endswith("._target_")]
        overrides = (f"scheduler={choice}", "data=synthetic", *run, *edits)
        assert OmegaConf.to_container(core.compose(overrides)) == \
            OmegaConf.to_container(compose_config(*overrides)), choice
    with pytest.raises(core.ConfigError, match="Could not override 'scheduler.lr_scheduler.nope'"):
        core.compose(("scheduler=cosine", "scheduler.lr_scheduler.nope=1"))


@pytest.mark.parametrize("overrides", [
    *[[f"scheduler={name}"] for name in ("constant", "cosine", "cosine_decay", "cosine_restarts", "cyclic",
                                          "exponential", "linear", "linear_to_zero", "multistep", "onecycle",
                                          "polynomial", "step")],
    ["scheduler=polynomial", "scheduler.lr_scheduler.cycle=true", "scheduler.lr_scheduler.decay_batch=30"],
    ["scheduler=cosine_restarts", "scheduler.lr_scheduler.T_mult=1", "scheduler.lr_scheduler.restart_limit=3"],
    ["scheduler=cyclic", "scheduler.lr_scheduler.mode=exp_range", "scheduler.lr_scheduler.gamma=0.98"],
    ["scheduler=onecycle", "scheduler.lr_scheduler.three_phase=true", "scheduler.lr_scheduler.anneal_strategy=linear"],
    ["scheduler=wsd", "scheduler.lr_scheduler.decay_shape=cosine", "scheduler.lr_scheduler.decay_fraction=0.3"],
    # compositions of closed forms (SequentialLR.step, evaluated per step): rescaled clocks or the global one
    ["scheduler=warmup_cosine"], ["scheduler=sequential"],
    ["scheduler=sequential", "scheduler.lr_scheduler.interval_rescaling=[false,true]"],
    ["scheduler=warmup_cosine", "scheduler.lr_scheduler.warmup_prefix=true", "scheduler.lr_scheduler.warmup_method=constant"],
    # a LambdaLR of a callable whose value reads only the step (LambdaLR.step: base_lr * callable(step))
    ["scheduler=noam"], ["scheduler=noam", "scheduler.lr_scheduler.lr_lambda.factor=2.0"],
])
def test_closed_form_curves_equal_the_stepped_ones(overrides):
    from schedulers.preview import build_preview_schedule, closed_form_lrs, stepped_lrs

    cfg = compose_config(*overrides, "data.train_size=1000", "data.batch_size=64")  # 16 steps x 200 epochs
    spe = steps_per_epoch(cfg)
    fast = closed_form_lrs(build_preview_schedule(cfg, spe, 200), 200 * spe)
    assert fast is not None
    assert fast.tolist() == stepped_lrs(build_preview_schedule(cfg, spe, 200), spe, 200)  # bit for bit


@pytest.mark.parametrize("overrides", [["scheduler=chained"], ["scheduler=plateau"], ["scheduler=warmup_plateau"]])
def test_schedules_with_state_are_stepped(overrides):
    from schedulers.preview import build_preview_schedule, closed_form_lrs

    cfg = compose_config(*overrides, "data.train_size=1000", "data.batch_size=64")
    assert closed_form_lrs(build_preview_schedule(cfg, steps_per_epoch(cfg), 200), 200 * steps_per_epoch(cfg)) is None


def test_display_downsampling_keeps_peaks_drops_and_ends():
    cfg = compose_config("scheduler=cosine_restarts")  # restarts: a jump from ~0 back to the peak at each cycle
    lrs = core.np.array([lr for _, _, lr in lr_curve(cfg, steps_per_epoch=steps_per_epoch(cfg))])
    keep = core.display_indices(lrs)
    assert len(keep) <= core.DISPLAY_POINTS + 2 and keep[0] == 0 and keep[-1] == len(lrs) - 1
    spe, bucket = steps_per_epoch(cfg), 2 * len(lrs) / core.DISPLAY_POINTS
    for restart in (5 * spe, 20 * spe, 65 * spe):  # cycles of 5, 15, 45 epochs: each ends near 0, restarts at 0.1
        near = [i for i in keep if abs(i - restart) <= bucket]
        assert max(lrs[near]) > 0.099 and min(lrs[near]) < 0.001, restart
    assert lrs[keep].max() == lrs.max() and lrs[keep].min() == lrs.min()


def test_overrides_round_trip_through_hydra():
    for value in (0.01, 1e-05, 200, True, None, [60, 120, 160], [True, False], "val/loss", "triangular2", 3.5,
                  "2.5%", ["30%", "60%", "80%"]):
        assert core.parse_hydra_value(core.hydra_value(value)) == value
    assert core.hydra_value(["30%", "60%", "80%"]) == "[30%,60%,80%]"  # shares read as typed, unquoted
    assert core.multirun_command([["scheduler=a", "x=1"], ["scheduler=b", "x=1"]]) == \
        "python train.py --multirun scheduler=a,b x=1"
    assert core.multirun_command([["scheduler=a", "x=1"], ["scheduler=b", "x=2"]]) is None  # not a product
    assert core.multirun_command([["scheduler=a"], ["scheduler=b", "x=2"]]) is None


def test_the_streamlit_config_serves_on_loopback_only():
    """`streamlit run` from the repository reads .streamlit/config.toml: loopback unless --server.address says
    otherwise (tests/explorer/test_explore_browser.py::test_served_on_loopback_only tries both addresses)."""
    import toml

    config = toml.load(ROOT / ".streamlit" / "config.toml")
    assert config["server"]["address"] == "127.0.0.1" and config["browser"]["gatherUsageStats"] is False
    assert "--server.address 0.0.0.0" in (ROOT / "docs" / "explorer.md").read_text()  # how to open it, documented


def test_headings_show_each_compositions_structure():
    """Every field sits under the heading of the node that holds it (WarmupLR's warmup_iters under WarmupLR, not
    under the CosineAnnealingLR it wraps), one level deeper per nesting, for every conf/scheduler choice."""
    for choice in core.scheduler_choices():
        node, _, _ = core.defaults(choice)
        section, sections = None, {"scheduler": 0}
        for item in core.scheduler_form(node):
            if isinstance(item, core.Section):
                holder = max((k for k in sections if item.key.startswith(k + ".")), key=len)
                assert item.depth == sections[holder] + 1, (choice, item)
                section, sections[item.key] = item, item.depth
                continue
            parent = item.key.rsplit(".", 1)[0]
            assert parent == (section.key if section else "scheduler"), (choice, item.key, section)
            assert item.depth == (section.depth if section else 0), (choice, item.key)
    form = core.scheduler_form(core.defaults("warmup_cosine")[0])
    headings = [(i.label, i.depth) for i in form if isinstance(i, core.Section)]
    assert headings == [("lr_scheduler: WarmupLR", 1), ("scheduler_or_optimizer: CosineAnnealingLR", 2)]


def test_an_unparsable_list_names_its_field_and_curve_and_keeps_the_tab(app):
    app.selectbox(key="c0:scheduler").set_value("multistep")
    checked(app)
    app.text_input(key="c0:multistep:scheduler.lr_scheduler.milestones").set_value("60,,120")
    checked(app)
    errors = [e.value for e in app.error]
    assert errors and all("curve 1: multistep" in e and "`milestones` (`scheduler.lr_scheduler.milestones`)" in e and
                          "comma-separated numbers" in e for e in errors), errors
    assert any(w.key == "c0:multistep:scheduler.lr_scheduler.gamma" for w in app.number_input)  # the rest of the tab
    shown = [c for c in commands(app) if c.startswith("python train.py scheduler=")]
    assert len(shown) == 2 and "'scheduler.lr_scheduler.milestones=[60,,120]'" in shown[0]
    assert [b.disabled for b in app.button if b.key and b.key.endswith(":off")] == [True, True]  # downloads kept
    assert app.get("component_instance"), "the other curve is still drawn"
    app.text_input(key="c0:multistep:scheduler.lr_scheduler.milestones").set_value("60, 120, 160")
    app.selectbox(key="c0:scheduler").set_value("cosine")
    checked(app)
    assert not app.error


def test_an_unticked_length_tracks_the_run_until_typed_over(app):
    follow, value = "c0:cosine:scheduler.lr_scheduler.T_max:follow", "c0:cosine:scheduler.lr_scheduler.T_max"
    app.checkbox(key=follow).uncheck()
    checked(app)
    assert app.number_input(key=value).value == EPOCHS
    app.number_input(key=RUN_KEY + "trainer.max_epochs").set_value(100)
    checked(app)
    assert app.number_input(key=value).value == 100  # untouched: follows the new length (it froze at 200)
    app.number_input(key=value).set_value(150)
    app.number_input(key=RUN_KEY + "trainer.max_epochs").set_value(120)
    checked(app)
    assert app.number_input(key=value).value == 150  # typed over: stays
    assert "scheduler.lr_scheduler.T_max=150" in commands(app)[0] and "trainer.max_epochs=120" in commands(app)[0]
    app.checkbox(key=follow).check()
    app.number_input(key=RUN_KEY + "trainer.max_epochs").set_value(EPOCHS)
    checked(app)
    assert not app.error and "T_max" not in commands(app)[0]


def test_sliders_and_typing_edit_the_same_value(app):
    """The common fields have a slider over a sensible range (epochs 1..400, lengths 0..the run, fractions 0..1);
    typing stays possible, beyond the slider's range too."""
    app.selectbox(key="c0:scheduler").set_value("onecycle")
    checked(app)
    key = "c0:onecycle:scheduler.lr_scheduler.pct_start"
    app.slider(key=key + ":slider").set_value(0.5)
    checked(app)
    assert app.number_input(key=key).value == 0.5 and "scheduler.lr_scheduler.pct_start=0.5" in commands(app)[0]
    app.number_input(key=key).set_value(0.25)
    checked(app)
    assert app.slider(key=key + ":slider").value == 0.25
    epochs = RUN_KEY + "trainer.max_epochs"
    assert (app.slider(key=epochs + ":slider").min, app.slider(key=epochs + ":slider").max) == (1, 400)
    app.number_input(key=epochs).set_value(600)  # typed beyond the slider: kept, the slider at its end
    checked(app)
    assert "trainer.max_epochs=600" in commands(app)[0] and app.slider(key=epochs + ":slider").value == 400
    app.slider(key=epochs + ":slider").set_value(EPOCHS)
    app.selectbox(key="c0:scheduler").set_value("cosine")
    checked(app)
    assert not app.error and "trainer.max_epochs" not in commands(app)[0]


def test_wsd_cooldown_fields_are_a_shape_choice_and_a_fraction():
    scheduler, _, _ = core.defaults("wsd", "digits")
    fields = {f.name: f for f in core.scheduler_form(scheduler) if isinstance(f, core.Field)}
    assert fields["decay_shape"].kind == "choice" and fields["decay_shape"].choices == ("linear", "cosine", "1-sqrt")
    assert fields["decay_fraction"].kind == "float" and (fields["decay_fraction"].minimum, fields["decay_fraction"].maximum) == (0.0, 1.0)
    assert fields["total_iters"].kind == fields["warmup_iters"].kind == "length"


# ---- defects found in a real browser (issue 29); each failed before its fix --------------------------------------


def test_a_cleared_or_fractional_number_is_refused_at_its_field_and_the_last_value_kept(app):
    """Clearing epochs (or typing `abc`, which the browser sends as empty) made the page a clamp(None) traceback;
    epochs 2.5 silently became 2. The same for a slider field such as warmup_factor."""
    epochs = RUN_KEY + "trainer.max_epochs"
    app.number_input(key=epochs).set_value(150)
    checked(app)
    app.number_input(key=epochs).set_value(None)
    checked(app)
    assert app.number_input(key=epochs).value == 150 and "trainer.max_epochs=150" in commands(app)[0]
    assert any("kept 150" in e.value for e in app.error), [e.value for e in app.error]
    app.number_input(key=epochs).set_value(2.5)
    checked(app)
    assert any("2.5 is not a whole number; kept 150" in e.value for e in app.error), [e.value for e in app.error]
    assert "trainer.max_epochs=150" in commands(app)[0]
    app.selectbox(key="c0:scheduler").set_value("warmup_cosine")
    checked(app)
    factor = "c0:warmup_cosine:scheduler.lr_scheduler.warmup_factor"
    app.number_input(key=factor).set_value(0.5)
    checked(app)
    app.number_input(key=factor).set_value(None)
    checked(app)
    assert app.number_input(key=factor).value == 0.5 and "warmup_factor=0.5" in commands(app)[0]
    app.selectbox(key="c0:scheduler").set_value("cosine")
    app.number_input(key=epochs).set_value(EPOCHS)
    checked(app)
    assert not app.error


def test_a_run_too_long_to_draw_is_refused_naming_the_longest(app):
    """epochs = 100000 kept the page "Running" past 2.5 GB: now refused at once."""
    epochs = RUN_KEY + "trainer.max_epochs"
    app.number_input(key=epochs).set_value(100000)
    app.run(timeout=60)
    assert not app.exception
    errors = [" ".join(e.value.split()) for e in app.error]  # one paragraph, wrapped
    assert errors and all("the explorer draws at most 200,000 steps, here 5,000 epochs" in e for e in errors), errors
    assert not app.get("component_instance") and computed(app) == {}
    app.number_input(key=epochs).set_value(EPOCHS)
    checked(app)
    assert not app.error and app.get("component_instance")


def test_colours_follow_the_tabs_when_a_curve_errors(app):
    """A curve that errors keeps its place in the colour scale: the next curve used to take its colour."""
    app.selectbox(key="c0:scheduler").set_value("multistep")
    checked(app)
    app.text_input(key="c0:multistep:scheduler.lr_scheduler.milestones").set_value("60, 250")  # outside the run
    checked(app)
    meta, _ = sent(app)
    assert [(s["label"], s["color"]) for s in meta["series"]] == [("2: multistep", "#E69F00")]
    app.text_input(key="c0:multistep:scheduler.lr_scheduler.milestones").set_value("30%, 60%, 80%")
    app.selectbox(key="c0:scheduler").set_value("cosine")
    checked(app)


def test_noams_factor_must_be_null_or_a_number(app):
    app.selectbox(key="c0:scheduler").set_value("noam")
    checked(app)
    app.text_input(key="c0:noam:scheduler.lr_scheduler.lr_lambda.factor").set_value("abc")
    checked(app)
    errors = [" ".join(e.value.split()) for e in app.error]
    assert any("'abc' is neither null nor a number" in e and "`factor`" in e for e in errors), errors
    assert not any("can't multiply" in e for e in errors)
    app.text_input(key="c0:noam:scheduler.lr_scheduler.lr_lambda.factor").set_value("null")
    app.selectbox(key="c0:scheduler").set_value("cosine")
    checked(app)


def test_clearing_multisteps_milestones_warns_as_plot_schedules_does(app):
    app.selectbox(key="c0:scheduler").set_value("multistep")
    checked(app)
    app.text_input(key="c0:multistep:scheduler.lr_scheduler.milestones").set_value("")
    checked(app)
    warnings = [" ".join(w.value.split()) for w in app.warning]
    assert any("keeps the LR at 0.1 for the whole run" in w for w in warnings), warnings
    app.text_input(key="c0:multistep:scheduler.lr_scheduler.milestones").set_value("30%, 60%, 80%")
    app.selectbox(key="c0:scheduler").set_value("cosine")
    checked(app)
    assert not app.warning


def test_a_second_tabs_edits_survive_going_to_one_schedule_and_back(app):
    """Streamlit forgets the value of a widget that is not drawn: 2 -> 1 -> 2 schedules reset tab 2's edits."""
    def in_tab_2() -> None:  # only the open tab's widgets run; AppTest keeps the tab opened for one run
        app.session_state["tabs"] = "2: multistep"

    in_tab_2()
    checked(app)
    gamma = "c1:multistep:scheduler.lr_scheduler.gamma"
    app.number_input(key=gamma).set_value(0.3)
    in_tab_2()
    checked(app)
    assert "scheduler.lr_scheduler.gamma=0.3" in commands(app)[1]
    app.session_state["tabs"] = "1: cosine"  # tab 2 closed: its edit still counts
    checked(app)
    assert "scheduler.lr_scheduler.gamma=0.3" in commands(app)[1]
    app.number_input(key="curves").set_value(1)
    checked(app)
    app.number_input(key="curves").set_value(2)
    checked(app)
    assert "scheduler.lr_scheduler.gamma=0.3" in commands(app)[1], commands(app)[1]
    in_tab_2()
    checked(app)
    assert app.number_input(key=gamma).value == 0.3  # drawn again with its value
    app.number_input(key=gamma).set_value(0.2)
    in_tab_2()
    checked(app)
    app.session_state["tabs"] = "1: cosine"
    checked(app)
    assert "gamma" not in commands(app)[1]


def test_onecycles_graph_mode_error_names_its_own_class():
    error = core.compute(("scheduler=onecycle", "trainer.graph=true")).error
    assert "OneCycleLR" in error and "LambdaLR" not in error and "ChainedScheduler" not in error, error


def test_logged_rings_and_short_horizon_dots_look_different(app, tmp_path):
    """A run of at most 200 steps gets a dot per step on its planned line; its logged LR (rings) must stand apart."""
    from explorer.browser import planned_run

    run = planned_run(tmp_path / "run", "scheduler=cosine", "data=synthetic", "data.train_size=256",
                      "data.batch_size=32", "trainer.max_epochs=20")  # 160 steps: marked
    app.text_input(key="runs_folder").set_value(str(run))
    checked(app)
    meta, series = sent(app, 1)  # the chart marks every step of a run this short, and rings its logged LRs
    steps, lrs, logged_steps, logged_lrs = series["run 1: cosine"]
    assert meta["marked"] and len(steps) == 160 and logged_steps.tolist() == list(range(160))
    # how the two look (filled dots, rings of 6.5 times their area) is checked where they are drawn:
    # test_explore_browser.py::test_overlaying_runs
    app.text_input(key="runs_folder").set_value("")
    checked(app)


def test_an_overlay_is_read_again_only_when_its_run_changed(tmp_path):
    """The overlay keeps a run it has read (going back to a run is instant) until one of the run's files changes."""
    from explorer.browser import planned_run

    run = planned_run(tmp_path / "run", "scheduler=cosine", "data=synthetic", "data.train_size=256",
                      "data.batch_size=32", "trainer.max_epochs=4")
    first = core.overlay_run(run)
    assert core.overlay_run(run) is first
    config = OmegaConf.load(run / ".hydra" / "config.yaml")
    config.scheduler.lr_scheduler.eta_min = 0.05  # the plan changes with the file
    OmegaConf.save(config, run / ".hydra" / "config.yaml")
    again = core.overlay_run(run)
    assert again is not first and again.planned[-1] != first.planned[-1] and again.logged == first.logged
