"""Imported by the parallel launcher's workers in tests (hydra.launcher.preload): records, per worker
process, the GPU it was pinned to and whether oneflow had already been imported at that moment."""
import json
import os
import sys
from pathlib import Path

if os.environ.get("SWEEPS_PIN_PROBE_DIR"):
    record = {"pid": os.getpid(), "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
              "oneflow_already_imported": "oneflow" in sys.modules}
    (Path(os.environ["SWEEPS_PIN_PROBE_DIR"]) / f"worker-{os.getpid()}.json").write_text(json.dumps(record))
