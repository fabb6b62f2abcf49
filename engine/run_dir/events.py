"""A run's TensorBoard event files: the only writer (`open_event_writer`) and the only reader (`read_scalars`).

Oneflow-free (tensorboardX to write, TensorBoard's own EventAccumulator to read, imported on first
read), so the comparison and the explorer read runs without loading OneFlow.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any, Iterable, NamedTuple, Optional

from tensorboardX import SummaryWriter
from tensorboardX.event_file_writer import _EventLoggerThread

EVENT_FILES = "events.out.tfevents.*"  # the names tensorboardX gives event files (a glob)

Series = list[tuple[int, float]]  # (step, value) in the order the run logged them


class EventWriter(SummaryWriter):
    """tensorboardX's SummaryWriter whose `flush()` returns only once every event added before it is in the file.

    tensorboardX 2.6 hands events to a writer thread through a queue, and its flush() flushes the file
    but not the queue: a kill -9 right after a checkpoint lost the events still queued (typically the
    last `train/loss` point before it, which a resume does not write again). Here flush stops the thread
    (it writes every queued event before the stop signal, in order), flushes the file, and starts a new one.
    """

    def flush(self) -> None:
        for file_writer in (self.all_writers or {}).values():
            events = file_writer.event_writer
            if events._closed:
                continue
            events._worker.stop()
            events._worker = _EventLoggerThread(events._event_queue, events._ev_writer, events._flush_secs)
            events._worker.start()
        super().flush()


def open_event_writer(run_dir: Path, global_step: int, history: dict) -> SummaryWriter:
    """A TensorBoard writer that continues the run's curves at `global_step` without duplicated steps.

    Events a killed run wrote after its last checkpoint are purged (TensorBoard drops every event at
    or after `purge_step` that precedes the purge marker); per-epoch scalars that the purge would
    also drop (their x is the epoch number) are written again from the checkpoint's history. The
    file name (`events.out.tfevents.<time>.<host>.<step>.<pid>`) keeps event files in write order even when
    two start within the same second, and no two processes ever share one.
    """
    # Always a purge marker: at step 0 it hides what a run killed before its first checkpoint wrote.
    writer = EventWriter(logdir=str(run_dir), purge_step=global_step,
                         filename_suffix=f".{global_step:012d}.{os.getpid()}")
    if global_step:
        for i, epoch in enumerate(history.get("epoch", [])):
            if epoch >= global_step:
                for key, values in history.items():
                    if key not in ("epoch", "lr"):
                        writer.add_scalar(key, values[i], epoch)
    return writer


def write_scalars(folder: Path, curves: dict[str, Series]) -> None:
    """One new event file in `folder` holding `curves` ({tag: [(step, value)]}): a derived TensorBoard run, such as
    a setting's mean over its seeds (analysis.mean_curves), not a training run."""
    with SummaryWriter(logdir=str(folder)) as writer:
        for tag, series in sorted(curves.items()):
            for step, value in series:
                writer.add_scalar(tag, value, step)


def has_events(run_dir: Path) -> bool:
    """Whether `run_dir` holds TensorBoard event files (of its own: sub-directories are other runs)."""
    return any(Path(run_dir).glob(EVENT_FILES))


def import_reader() -> type:
    """TensorBoard's EventAccumulator, imported on first use (~0.2 s): training only writes events. The explorer
    imports it at start, so that its first overlay does not wait for it."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    # Its INFO lines ("No path found after <event file>") reached a resumed run's console through Hydra's INFO logging
    logging.getLogger("tensorboard").setLevel(logging.WARNING)
    return EventAccumulator


def _loaded_events(run_dir: Path) -> Any:
    """TensorBoard's EventAccumulator over `run_dir`'s event files, loaded; None when there are none or they cannot be read."""
    if not has_events(run_dir):
        return None
    events = import_reader()(str(run_dir), size_guidance={"scalars": 0})
    try:
        events.Reload()
    except Exception:  # noqa: BLE001  (any damage to the files: the curves are unknown)
        return None
    return events


def _scalars(events: Any, tags: Optional[Iterable[str]] = None) -> dict[str, Series]:
    if events is None:
        return {}
    logged = events.Tags().get("scalars", [])
    wanted = logged if tags is None else [tag for tag in tags if tag in logged]
    return {tag: [(event.step, event.value) for event in events.Scalars(tag)] for tag in wanted}


def read_scalars(run_dir: Path, tags: Optional[Iterable[str]] = None) -> dict[str, Series]:
    """{tag: [(step, value), ...]} of the scalars `run_dir`'s event files hold (only `tags`, when given, of those logged).

    As TensorBoard shows them: a resumed run's purged events are dropped. Empty when there are no event
    files, or when they cannot be read (a truncated file of a killed run costs its curves, not the caller)."""
    return _scalars(_loaded_events(run_dir), tags)


class EarlierEvents(NamedTuple):
    """What the event files of earlier processes of a run hold, as TensorBoard shows them: read before a resume writes."""

    scalars: dict[str, Series]
    hparams_started: bool  # the run's HParams experiment and session start are there (engine.run_dir.hparams)

    def kept_past(self, completed_epochs: int, global_step: int) -> set[tuple[str, int]]:
        """(tag, step) of the points a resume at `global_step` keeps although no checkpoint covers them: those of an
        epoch after the `completed_epochs` that the newest checkpoint holds, logged by a process killed while it wrote
        that epoch's checkpoint. The purge marker at `global_step` hides only steps from it on; the epoch-level
        points have the epoch as their step, below it. The resumed run does not log them again."""
        return {(tag, step) for tag, series in self.scalars.items() for step, _ in series if completed_epochs < step < global_step}


def earlier_events(run_dir: Path) -> EarlierEvents:
    events = _loaded_events(run_dir)
    hparams = events._plugin_to_tag_to_content.get("hparams", {}) if events is not None else {}  # (public: raises when absent)
    return EarlierEvents(_scalars(events), "_hparams_/session_start_info" in hparams)


def last_per_step(series: Series) -> dict[int, float]:
    """{step: value} of a series, the last value logged at a step winning (a resume may log a step again)."""
    return dict(series)
