"""How many threads each of several CPU processes gets (framework-free: read before any framework starts).

PyTorch and OneFlow size their OpenMP pools to every core. Two such processes on a 2-core machine each start two
threads that spin-wait for each other's core: measured here, two torch runs side by side took 36 s with the default
threads and 17.7 s with one thread each, the time one run alone takes with both cores. So a launcher that runs CPU
jobs side by side gives each its share of the cores, unless the user set the variables.
"""
from __future__ import annotations

import os

THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "ONEFLOW_NUM_THREADS", "NUMEXPR_NUM_THREADS")


def cores_available() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def threads_per_job(n_jobs: int, cores: int) -> int:
    """Each of `n_jobs` processes sharing `cores` cores: its whole share, at least one."""
    return max(1, cores // max(1, n_jobs))


def share_cores(n_jobs: int, cores: int, environ: "os._Environ | dict" = os.environ) -> int:
    """Set the thread variables the user left unset to this job's share; returns the share. Call before the
    framework is imported (its pool is sized then); an explicit OMP_NUM_THREADS etc. is left as it is."""
    share = threads_per_job(n_jobs, cores)
    for name in THREAD_VARIABLES:
        environ.setdefault(name, str(share))
    return share
