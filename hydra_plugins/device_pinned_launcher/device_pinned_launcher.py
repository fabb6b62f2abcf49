"""Hydra's joblib launcher, with every worker process pinned to its own GPU.

Hydra's joblib launcher runs jobs in parallel loky processes but gives them all the same GPU. Here
each worker claims a free slot (an exclusive file lock, held for the worker's life: engine.platform.gpu_slots)
the first time it runs a job, and sets CUDA_VISIBLE_DEVICES to that slot's GPU *before* the task function is
unpickled, i.e. before `import oneflow` (which creates OneFlow's environment and reads
CUDA_VISIBLE_DEVICES). Workers are reused between jobs, so a slot per worker, not per job number,
guarantees that no two running jobs share a GPU whatever their durations. With no GPU, jobs simply
run in parallel processes.

Lives under `hydra_plugins/` because Hydra only instantiates launchers from that package.
"""
from __future__ import annotations

import importlib
import logging
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, List, Sequence

import cloudpickle
from hydra.core.singleton import Singleton
from hydra.core.utils import JobReturn, configure_log, filter_overrides, setup_globals
from joblib import Parallel, delayed
from omegaconf import DictConfig, ListConfig

from engine.platform.device import resolve_device
from engine.platform.gpu_slots import claim_slot
from engine.platform.errors import ConfigError, user_errors

from engine.platform.console import PARALLEL_JOB_ENV
from engine.platform.threads import cores_available, share_cores
from hydra_plugins.hydra_joblib_launcher._core import execute_job, process_joblib_cfg
from hydra_plugins.hydra_joblib_launcher.joblib_launcher import JoblibLauncher

log = logging.getLogger(__name__)


def visible_gpus() -> List[str]:
    """GPU ids this process may use: CUDA_VISIBLE_DEVICES if set, else those `nvidia-smi -L` lists."""
    if os.environ.get("CUDA_VISIBLE_DEVICES") is not None:
        return [g for g in os.environ["CUDA_VISIBLE_DEVICES"].split(",") if g.strip() not in ("", "-1")]
    try:
        listing = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=30, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [str(i) for i, line in enumerate(listing.splitlines()) if line.startswith("GPU ")]


def check_job_devices(config: DictConfig, job_overrides: Sequence[Sequence[str]]) -> None:
    """Before any job starts: every device the jobs ask for must run OneFlow's kernels (engine.platform.device).

    Raises ConfigError for a GPU that the installed OneFlow cannot run: the sweep stops once, before
    any job, instead of every job aborting. A passed probe is remembered in the environment, which the worker
    processes inherit, so their own resolve_device (in train.py) does not probe the same GPU model again.
    """
    devices = {str(config.get("device", "auto"))}
    for overrides in job_overrides:
        devices |= {o.split("=", 1)[1] for o in overrides if o.split("=", 1)[0].lstrip("+~") == "device" and "=" in o}
    for device in sorted(devices - {"cpu"}):
        resolve_device(device)


def side_by_side(n_jobs: int, n_overrides: int) -> int:
    """How many jobs run at once: joblib's n_jobs (-1: every core, -2: all but one, ...), at most one per job."""
    running = n_jobs if n_jobs > 0 else max(1, cores_available() + 1 + n_jobs)
    return max(1, min(running, n_overrides))


def run_pinned_job(slot_dir: str, gpus: Sequence[str], preload: Sequence[str], payload: bytes, n_jobs: int = 1) -> JobReturn:
    """In a worker: pin this process to a GPU (or, on CPU, to its share of the cores), import `preload` modules,
    then run the Hydra job.

    The variables it sets are put back afterwards: with n_jobs=1 joblib runs the job in the launching process
    itself, whose later work (another sweep, a test) must not inherit "parallel job, one thread"."""
    saved = dict(os.environ)
    try:
        # Jobs share the terminal: progress bars would overwrite each other's lines (engine.platform.console.show_progress)
        os.environ[PARALLEL_JOB_ENV] = "1"
        for stream in (sys.stdout, sys.stderr):  # a worker's pipe is block-buffered: lines were lost when it ended
            if hasattr(stream, "reconfigure"):
                stream.reconfigure(line_buffering=True)
        if gpus:
            slot = claim_slot(slot_dir, len(gpus))
            os.environ["CUDA_VISIBLE_DEVICES"] = gpus[slot]
        else:  # n_jobs CPU processes: default thread pools would oversubscribe the cores and spin (engine.platform.threads)
            share_cores(n_jobs, cores_available())
        for module in preload:  # e.g. engine.platform.oneflow_env, which must be imported before oneflow
            importlib.import_module(module)
        idx, overrides, hydra_context, config, task_function, singleton_state = cloudpickle.loads(payload)
        if gpus:
            log.info(f"job #{idx} runs on GPU {os.environ['CUDA_VISIBLE_DEVICES']} (worker pid {os.getpid()})")
        return execute_job(idx, overrides, hydra_context, config, task_function, singleton_state)
    finally:
        for name in set(os.environ) - set(saved):
            del os.environ[name]
        os.environ.update({name: value for name, value in saved.items() if os.environ.get(name) != value})


class DevicePinnedJoblibLauncher(JoblibLauncher):
    """`JoblibLauncher` whose worker processes each own one GPU (see the module docstring).

    Config: `gpus` (null: all visible GPUs; or a list of ids), `preload` (modules to import in a
    worker before the task), `n_jobs` (null: one per GPU, or `cpu_jobs` on a machine without GPUs),
    plus any joblib.Parallel argument.
    """

    def __init__(self, gpus: Any = None, preload: Any = (), cpu_jobs: int = 2, **joblib_kwargs: Any) -> None:
        super().__init__(**joblib_kwargs)
        if isinstance(gpus, (ListConfig, list, tuple)):
            self.gpus = [str(g) for g in gpus]
        elif gpus is None:
            self.gpus = visible_gpus()
        else:
            self.gpus = [g.strip() for g in str(gpus).split(",") if g.strip()]
        self.preload = list(preload)
        n_jobs = self.joblib.get("n_jobs")
        if n_jobs is None:
            self.joblib["n_jobs"] = len(self.gpus) if self.gpus else cpu_jobs
        elif self.gpus and int(n_jobs) > len(self.gpus):
            with user_errors():  # one paragraph and exit 2, before the sweep writes anything
                raise ConfigError(f"hydra.launcher.n_jobs={n_jobs} is more than the {len(self.gpus)} GPUs {self.gpus}: "
                                  f"each job gets a GPU of its own; use n_jobs<={len(self.gpus)} or list more "
                                  f"hydra.launcher.gpus.")
        self.slot_dir = tempfile.mkdtemp(prefix="hydra-gpu-slots-")

    def __del__(self) -> None:
        shutil.rmtree(getattr(self, "slot_dir", ""), ignore_errors=True)

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        setup_globals()
        assert self.config is not None and self.task_function is not None and self.hydra_context is not None
        configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)
        sweep_dir = Path(str(self.config.hydra.sweep.dir))
        with user_errors():  # one paragraph and exit 2
            try:
                check_job_devices(self.config, job_overrides)
            except ConfigError:
                # Hydra wrote multirun.yaml before launching; a sweep that never started leaves nothing behind.
                if sweep_dir.is_dir() and {p.name for p in sweep_dir.iterdir()} <= {"multirun.yaml"}:
                    shutil.rmtree(sweep_dir)
                raise
        sweep_dir.mkdir(parents=True, exist_ok=True)
        joblib_cfg = dict(self.joblib)
        joblib_cfg["backend"] = "loky"  # threads cannot hold separate CUDA_VISIBLE_DEVICES
        process_joblib_cfg(joblib_cfg)
        where = f"one GPU each of {self.gpus}" if self.gpus else "no GPU visible: CPU processes"
        log.info(f"Joblib.Parallel(n_jobs={joblib_cfg['n_jobs']}) is launching {len(job_overrides)} jobs ({where}); "
                 f"sweep output dir: {sweep_dir}")
        for idx, overrides in enumerate(job_overrides):
            log.info(f"\t#{initial_job_idx + idx} : {' '.join(filter_overrides(overrides))}")
        singleton_state = Singleton.get_state()
        runs = Parallel(**joblib_cfg)(
            delayed(run_pinned_job)(self.slot_dir, self.gpus, self.preload, cloudpickle.dumps(
                (initial_job_idx + idx, overrides, self.hydra_context, self.config, self.task_function, singleton_state)),
                side_by_side(int(joblib_cfg["n_jobs"]), len(job_overrides)))
            for idx, overrides in enumerate(job_overrides)
        )
        assert isinstance(runs, list) and all(isinstance(run, JobReturn) for run in runs)
        return runs
