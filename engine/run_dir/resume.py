"""Continuing a run: `resume=<run dir>` on the command line, and refusing configs that change the experiment.

`python train.py resume=runs/2026-11-25/08-00-00` re-uses that run's own command-line overrides
(from its `.hydra/overrides.yaml`), adds the ones given now, and makes the run directory Hydra's
output directory, so the run continues where its last valid checkpoint stopped. A sweep job re-run
in the same directory continues the same way: whenever the output directory holds a checkpoint.
A run directory that already exists keeps the config it was started with (conf/config.yaml's
hydra.output_subdir); `check_run_dir` refuses a different one, and a finished run is never rewritten.
"""
from __future__ import annotations

import math
import os
import shlex
import shutil
import sys
import time
from pathlib import Path
from typing import Any, Optional, Union

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import HydraException
from omegaconf import DictConfig, OmegaConf

import engine.config.resolvers  # noqa: F401  (registers the resolvers conf/config.yaml's hydra section uses)
from engine.run_dir.checkpoint import STATE_KEYS, CheckpointDir
from engine.config.compose import with_overrides
from engine.config.keys import ADDED_LATER, RESUME_MAY_CHANGE, flatten, hydra_quote, is_harmless, is_under  # noqa: F401 (hydra_quote: the API)
from engine.platform.console import stop_run_log
from engine.platform.errors import ConfigError, fail
from engine.run_dir.files import holds_only_hydra_files
from engine.run_dir.lock import held_by_another, other_dir_advice
from engine.run_dir.status import RunStatus
from engine.run_dir.summary import finished_status

SAVED_CONFIG = Path(".hydra") / "config.yaml"


def _override_key(override: str) -> str:
    return override.split("=", 1)[0].lstrip("+~")


def _resume_value(raw: str) -> str:
    """The directory of `resume=<raw>`: a plain path (even with `=` and `,`, as job folders have) or a Hydra-quoted one."""
    if raw[:1] in ("'", '"'):
        try:
            return str(OverridesParser.create().parse_override(f"resume={raw}").value())
        except HydraException:
            pass
    return raw


def _run_dir_argument(argv: list[str], key: str, dropped: tuple = ("resume",)) -> Optional[tuple[Path, list[str], list[str]]]:
    """For `<key>=<run dir>` in `argv`: (the directory, that run's own overrides but `dropped` and hydra.*, the
    other arguments typed now).

    None when there is no such argument (or it is null). The directory is read here, before Hydra parses
    the command line, so it may hold `=` and `,` (sweep job folders such as `scheduler=cosine,seed=1`)."""
    found = [i for i, arg in enumerate(argv[1:], 1) if _override_key(arg) == key and "=" in arg]
    if not found:
        return None
    raw = argv[found[-1]].split("=", 1)[1]
    if raw in ("", "null", "None"):
        return None
    value = _resume_value(raw)
    run_dir = Path(value).expanduser()
    overrides_file = run_dir / ".hydra" / "overrides.yaml"
    damage = saved_config_damage(run_dir)
    if damage:
        fail(damage)
    if not overrides_file.is_file():
        fail(f"{key}={value} is not a run directory of train.py (it has no .hydra/overrides.yaml); give the "
             f"directory a run printed as 'run directory: ...', e.g. runs/<date>/<time>.")
    original = [str(o) for o in OmegaConf.load(overrides_file)
                if not is_under(_override_key(str(o)), dropped) and not _override_key(str(o)).startswith("hydra.")]
    return run_dir, original, [arg for i, arg in enumerate(argv[1:], 1) if i not in found]


def resume_argv(argv: list[str]) -> list[str]:
    """`argv` with a `resume=<dir>` expanded into that run's overrides plus `hydra.run.dir=<dir>` (quoted)."""
    found = _run_dir_argument(argv, "resume")
    if found is None:
        return argv
    run_dir, original, typed_now = found
    # Later overrides win in Hydra: the ones typed now come after the run's own. The run's .hydra/ is not
    # rewritten (hydra.output_subdir in conf/config.yaml); run_info.json records every resume's command.
    return with_overrides([argv[0], *typed_now], before=original,  # flags such as --cfg job stay after every override
                          after=[f"resume={hydra_quote(str(run_dir))}", f"hydra.run.dir={hydra_quote(str(run_dir))}"])


def fork_argv(argv: list[str]) -> list[str]:
    """`argv` with a `fork=<dir>` expanded into that run's overrides, the ones typed now, and `fork.run=<dir>`.

    The new run is the parent's experiment with the changes typed now (a schedule's tail, the run
    length); engine.training.fork starts it from the parent's checkpoint (fork.at_epoch)."""
    found = _run_dir_argument(argv, "fork", dropped=("resume", "fork"))  # a parent that is a fork: its own parent goes
    if found is None:
        return [arg for arg in argv if _override_key(arg) != "fork"]
    run_dir, original, typed_now = found
    return with_overrides([argv[0], *typed_now], before=original,  # Hydra's flags (-m, --cfg job) stay where typed
                          after=[f"fork.run={hydra_quote(str(run_dir))}"])


def _shown_path(path: Path) -> str:
    """`path` relative to the working directory when it lies inside it (shorter to read and to paste)."""
    relative = os.path.relpath(Path(path).resolve(), Path.cwd())
    return relative if not relative.startswith("..") else str(Path(path).resolve())


def _script() -> str:
    """This project's train.py (not sys.argv[0]: in a launcher's worker process that is the worker's script)."""
    return _shown_path(Path(__file__).resolve().parents[2] / "train.py")


def python_command() -> str:
    """This interpreter as the user's shell reaches it: `python` when that is this very interpreter (an active
    venv), else its path (relative to the working directory inside it, e.g. `.venv/bin/python`), never resolved
    through symlinks (a venv's python is a link to the base interpreter, which lacks the venv's packages)."""
    here, on_path = os.path.abspath(sys.executable), shutil.which("python")
    if on_path and os.path.dirname(os.path.abspath(on_path)) == os.path.dirname(here) and os.path.samefile(on_path, here):
        return "python"
    relative = os.path.relpath(here, os.getcwd())
    shown = here if relative.startswith("..") else relative if os.sep in relative else f".{os.sep}{relative}"
    return shlex.quote(shown)


def resume_command(run_dir: Union[str, Path]) -> str:
    """The shell command that continues the run in `run_dir`, quoted so that it runs as printed."""
    return f"{python_command()} {shlex.quote(_script())} {shlex.quote('resume=' + _shown_path(Path(run_dir)))}"


def train_command(*args: str) -> str:
    """The shell command that runs train.py with `args` (overrides, `-m`), quoted so that it runs as printed."""
    return " ".join([python_command(), shlex.quote(_script()), *(shlex.quote(a) for a in args)])


def rerun_command(run_dir: Union[str, Path], *extra: str) -> str:
    """The shell command that starts the run of `run_dir` again in a new directory, with the overrides `extra` added."""
    overrides_file = Path(run_dir) / ".hydra" / "overrides.yaml"
    original = [str(o) for o in OmegaConf.load(overrides_file)] if overrides_file.is_file() else []
    kept = [o for o in original if _override_key(o) not in {_override_key(e) for e in extra}
            and _override_key(o) != "resume" and not _override_key(o).startswith("hydra.")]
    return " ".join([python_command(), shlex.quote(_script()), *(shlex.quote(o) for o in (*kept, *extra))])


def same_value(a: Any, b: Any) -> bool:
    """`a == b`, except that NaN equals NaN (also inside lists): the same config read twice is the same config."""
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(same_value(x, y) for x, y in zip(a, b))
    return a == b


def config_differences(saved: dict, current: dict) -> list[str]:
    """`key: saved -> current` for every leaf that differs, except HARMLESS_KEYS (and keys under them)."""
    old, new = flatten(saved), flatten(current)
    old.update({key: value for key, value in ADDED_LATER.items() if key in new and key not in old})  # what it did then
    return [f"{key}: {old.get(key, '<absent>')!r} -> {new.get(key, '<absent>')!r}" for key in sorted(set(old) | set(new))
            if not is_harmless(key) and not same_value(old.get(key, "<absent>"), new.get(key, "<absent>"))]


def resolved_config(cfg: DictConfig) -> dict:
    return OmegaConf.to_container(cfg, resolve=True)


def _growth_hint(differences: list[str], run_dir: Path) -> tuple[str, Optional[str]]:
    """The advice when trainer.max_epochs grew, and the command that starts the longer run (printed on its own line)."""
    grown = [d for d in differences if d.startswith("trainer.max_epochs:")]
    if not grown:
        return "", None
    new_epochs = grown[0].rsplit("-> ", 1)[1]
    return (" trainer.max_epochs sets the length of the schedule (a cosine over 8 epochs is not a cosine over 4 "
            "followed by 4 more), so a run cannot be extended. Start a longer run in a new directory with:",
            rerun_command(run_dir, f"trainer.max_epochs={new_epochs}"))


def check_same_experiment(saved: dict, cfg: DictConfig, checkpoint: Path) -> None:
    differences = config_differences(saved, resolved_config(cfg))
    if differences:
        hint, command = _growth_hint(differences, checkpoint.parent.parent)
        raise ConfigError(f"cannot resume from {checkpoint}: this config changes the experiment ({'; '.join(differences)}). "
                          f"Resume with the run's own config (only {', '.join(RESUME_MAY_CHANGE)} and data paths may change), "
                          f"or start a new run in another directory.{hint}", command=command)


def _saved_config(path: Path, current: dict, settle_s: float = 5.0) -> Optional[dict]:
    """The config saved at `path` (None when there is none).

    Hydra writes the file in place, not atomically: the ranks of a distributed run start together,
    and one may read it while another is still writing it. A file younger than `settle_s` that does
    not parse or differs from `current` is read again until it is older or agrees."""
    while True:
        if not path.is_file():
            return None
        try:
            saved = OmegaConf.to_container(OmegaConf.load(path), resolve=False)
            if not isinstance(saved, dict) or not config_differences(saved, current):
                return saved
        except Exception:  # noqa: BLE001  (a partly written YAML file: read it again below, or raise)
            if time.time() - path.stat().st_mtime > settle_s:
                raise
        if time.time() - path.stat().st_mtime > settle_s:
            return saved
        time.sleep(0.2)


def saved_config_damage(run_dir: Path, discarded: bool = False) -> Optional[str]:
    """One paragraph when `run_dir` has a saved config (.hydra/config.yaml) that cannot be used, else None.

    `discarded`: the refusal goes through engine.run_dir.files.discard_if_stopped_early (train.py's task), which
    removes a directory holding only Hydra's files.

    Hydra writes config.yaml, then hydra.yaml and overrides.yaml, in place, when it makes a run directory: a
    full disk or a kill at that moment leaves config.yaml empty or cut, and the files after it missing."""
    hydra_dir = Path(run_dir) / ".hydra"
    config = hydra_dir / "config.yaml"
    try:
        if not config.is_file():
            return None
        what = ("empty" if config.stat().st_size == 0 else None if (hydra_dir / "overrides.yaml").is_file() else
                "incomplete (.hydra/overrides.yaml, which Hydra writes after it, is missing)")
    except OSError as error:
        what = f"unreadable ({error.strerror or error})"
    if what is None:
        return None
    if CheckpointDir(Path(run_dir) / "checkpoints").checkpoints():
        recover = (f"Its checkpoints cannot be resumed without it: restore {hydra_dir} from a copy of the run, "
                   f"or start the run again in another directory.")
    elif discarded and holds_only_hydra_files(run_dir) and not held_by_another(run_dir):
        recover = f"Nothing of a run was in {run_dir}, so it has been removed: run the command again."
    else:
        recover = (f"{run_dir} holds no checkpoint, so no training is lost: remove it (rm -r {shlex.quote(str(run_dir))}) "
                   f"and start the run again with its own command.")
    return (f"the saved config of {run_dir} cannot be read: {config} is {what}, so the config this run directory was "
            f"started with is unknown (a full disk or a kill while Hydra wrote it at start-up leaves it so). {recover}")


def _settled_damage(run_dir: Path, settle_s: float = 5.0) -> Optional[str]:
    """saved_config_damage, once Hydra has had time to finish: another rank of a distributed run may still be
    writing .hydra/ (config.yaml in place, overrides.yaml after it), so a damage younger than `settle_s` is read again."""
    while True:
        damage = saved_config_damage(run_dir, discarded=True)
        try:
            young = time.time() - (Path(run_dir) / SAVED_CONFIG).stat().st_mtime < settle_s
        except OSError:
            young = False
        if not damage or not young:
            return damage
        time.sleep(0.2)


def check_run_dir(run_dir: Path, cfg: DictConfig) -> Optional[RunStatus]:
    """Call first in the task: the final status when the run in `run_dir` already ended (nothing to do), else None.

    A run directory keeps the config it was started with (Hydra's .hydra/config.yaml, which is not
    rewritten for an existing directory): a config that changes the experiment raises ConfigError
    listing the differences. Reads only; when the run is finished or refused, train.log is left
    alone too (console lines go to the terminal only)."""
    run_dir = Path(run_dir)
    saved_file = run_dir / SAVED_CONFIG
    current = OmegaConf.to_container(cfg, resolve=False)
    damage = _settled_damage(run_dir)
    if damage:  # never "started with another config" with every key '<absent>'
        stop_run_log(run_dir)
        raise ConfigError(damage)
    try:
        saved = _saved_config(saved_file, current)
    except Exception as error:  # noqa: BLE001  (OSError or any YAML/OmegaConf error: a damaged file)
        stop_run_log(run_dir)
        raise ConfigError(f"{saved_file} cannot be read ({error}); it is the config {run_dir} was started with. "
                          f"Restore it, or start a new run in another directory.") from error
    status = finished_status(run_dir)
    differences = config_differences(saved, current) if isinstance(saved, dict) else []
    if differences:
        stop_run_log(run_dir)
        what = (f"{run_dir} already ended ({status}) and a finished run is never changed" if status else
                f"{run_dir} was started with another config and continues only with it (only "
                f"{', '.join(RESUME_MAY_CHANGE)} and data paths may change)")
        hint, command = _growth_hint(differences, run_dir)
        raise ConfigError(f"{what}; this config differs: {'; '.join(differences)}. Nothing in {run_dir} was written. "
                          f"To train this config in a directory of its own, {other_dir_advice()}.{hint}",
                          command=command)
    if status:
        stop_run_log(run_dir)
    return status


def missing_state(state: dict) -> Optional[str]:
    """Why `state` is not a run's checkpoint (the keys of a RunState that it lacks), or None."""
    missing = [key for key in STATE_KEYS if key not in state]
    return f"lacks {', '.join(missing)}: it is not a checkpoint of a train.py run" if missing else None


def newest_valid_state(checkpoints: CheckpointDir, cfg: DictConfig, device: str) -> Optional[tuple[Path, dict]]:
    """The run's newest checkpoint that passes its checksum and holds this run's state, with that state (None: no
    checkpoint). A bad newer one is reported and the previous one used; trainer.strict_resume=true refuses instead.

    A checkpoint of another experiment (its config differs from this run's, which check_run_dir found equal to the one
    the directory was started with) cannot be this run's own: it counts as bad, like one of another program."""
    strict = bool(OmegaConf.select(cfg, "trainer.strict_resume", default=False))
    current = resolved_config(cfg)

    def this_runs_state(state: dict) -> Optional[str]:
        missing = missing_state(state)
        if missing or not isinstance(state["config"], dict):
            return missing or "holds no config: it is not a checkpoint of a train.py run"
        differences = config_differences(state["config"], current)
        return f"was written by a run of another config ({'; '.join(differences)}), not by this run" if differences else None
    return checkpoints.latest_valid(device, strict=strict, accept=this_runs_state)
