"""Facts about the machine a measurement ran on, recorded beside every benchmark figure."""
from __future__ import annotations

import os
import platform
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import oneflow as flow


def machine() -> dict:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor()) if Path("/proc/cpuinfo").exists() else platform.processor()
    return {"cpu": cpu, "cores_available": len(os.sched_getaffinity(0)), "load_average_at_start": os.getloadavg()[0],
            "python": platform.python_version(), "oneflow": flow.__version__, "numpy": np.__version__,
            "cuda": flow.cuda.is_available(), "date_utc": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M")}
