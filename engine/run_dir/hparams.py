"""TensorBoard HParams for a run: what was chosen (scheduler, optimizer, model, ...) -> best/final top-1.

tensorboardX's `add_hparams` writes into a new sub-directory (`<run>/<timestamp>`), which shows in
TensorBoard as a second run with its own copy of the metrics. Here the same three HParams summaries
(experiment, session start, session end) go into the run's own event file instead, so the HParams
dashboard has exactly one session per run directory, named like the run (e.g. `scheduler=cosine,seed=1`),
and its metric columns are the `whole_run/*` scalars of that run (named to sort after the curves).
"""
from __future__ import annotations

from typing import Any, Mapping, Optional

from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig
from tensorboardX.proto.api_pb2 import Status
from tensorboardX.proto.plugin_hparams_pb2 import HParamsPluginData, SessionEndInfo
from tensorboardX.proto.summary_pb2 import Summary, SummaryMetadata
from tensorboardX.summary import hparams as hparams_summaries

from engine.run_dir.status import RunStatus

# Metric columns of the HParams dashboard: scalar tag -> summary.json key. TensorBoard sorts its scalar groups by
# name, and `hparams/` came first: `whole_run/` sorts after lr, test/, train/ and val/, so the curves open first.
METRICS_GROUP = "whole_run"
METRICS = {f"{METRICS_GROUP}/{key}": key for key in ("best_acc1", "final_acc1", "best_acc5", "final_acc5")}
# summary.json status -> HParams session status (shown, and filterable, in the dashboard).
# (The proto has no "aborted": a stopped run records its session end only when it really ends.)
STATUS = {RunStatus.COMPLETED: "STATUS_SUCCESS", RunStatus.DIVERGED: "STATUS_FAILURE", RunStatus.RUNNING: "STATUS_RUNNING"}


def run_hparams(cfg: DictConfig) -> dict:
    """The run's hyperparameters as flat scalars: config-group choices by name, plus the numbers that matter."""
    choices = dict(HydraConfig.get().runtime.choices) if HydraConfig.initialized() else {}
    values: dict[str, Any] = {group: choices.get(group) for group in ("scheduler", "optimizer", "model", "data")}
    values["scheduler"] = cfg.scheduler.get("name") or values["scheduler"]
    values.update(backend=cfg.get("backend", "oneflow"), base_lr=float(cfg.optimizer.lr), batch_size=int(cfg.data.batch_size), seed=int(cfg.seed),
                  max_epochs=int(cfg.trainer.max_epochs))
    return {k: v for k, v in values.items() if v is not None}


def log_hparams_start(writer: Any, cfg: DictConfig) -> None:
    """Declare the run's hyperparameters and metric columns (call once, when the writer opens)."""
    experiment, session_start, _ = hparams_summaries(run_hparams(cfg), {tag: 0.0 for tag in METRICS})
    writer.file_writer.add_summary(experiment)
    writer.file_writer.add_summary(session_start)


def log_hparams_end(writer: Any, summary: Mapping[str, Any], step: Optional[int] = None) -> None:
    """Record the final metric values (from summary.json's fields) and how the run ended."""
    for tag, key in METRICS.items():
        if summary.get(key) is not None:
            writer.add_scalar(tag, float(summary[key]), step if step is not None else summary.get("epochs", 0))
    status = STATUS.get(summary.get("status", RunStatus.COMPLETED), "STATUS_UNKNOWN")
    content = HParamsPluginData(session_end_info=SessionEndInfo(status=Status.Value(status)), version=0)
    metadata = SummaryMetadata(plugin_data=SummaryMetadata.PluginData(plugin_name="hparams", content=content.SerializeToString()))
    writer.file_writer.add_summary(Summary(value=[Summary.Value(tag="_hparams_/session_end_info", metadata=metadata)]))
    writer.flush()


def objective(cfg: DictConfig, summary: Mapping[str, Any]) -> Optional[float]:
    """The value a sweeper optimises (Optuna): summary.json's `cfg.optimized_metric`, or None when unset."""
    key = cfg.get("optimized_metric")
    if key is None:
        return None
    if summary.get("status") == RunStatus.DIVERGED:
        return float("nan")  # Optuna records a NaN objective as a failed trial and samples elsewhere
    if key not in summary:
        from engine.platform.errors import ConfigError
        raise ConfigError(f"optimized_metric={key!r} is not in this run's summary.json; use one of "
                          f"{sorted(k for k, v in summary.items() if isinstance(v, (int, float)) and not isinstance(v, bool))}.")
    if cfg.data.get("val_split") and "test_acc1" not in summary:
        print(f"warning: data.val_split={cfg.data.val_split} had no effect in this run (summary.json has no test_acc1), "
              f"so {key} was measured on the test set; tune on a validation split to keep the test set out of the choice.")
    return float(summary[key])
