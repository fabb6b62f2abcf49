"""Job states for the launcher's wait loop on clusters without Slurm accounting.

submitit asks `sacct` for the state of its jobs. Where accounting storage is disabled (slurmdbd
absent, as on many small clusters and the local test cluster), every call fails with a warning
("Bypassing sacct error ..., status may be inaccurate") printed again and again, and a job that
ended without a result file (killed, out of memory, exit 2 on a bad config) stays UNKNOWN, so the
launcher would wait for it forever. This watcher says so once and asks `squeue` instead, which
knows every job of the last MinJobAge seconds (default 300) and its final state.
"""
from __future__ import annotations

import logging
import subprocess
import time
from typing import Optional

from submitit.slurm.slurm import SlurmInfoWatcher

log = logging.getLogger(__name__)

# The state of a job that squeue no longer lists: it ended longer ago than Slurm's MinJobAge.
ENDED = "ENDED"


class AccountingFreeWatcher(SlurmInfoWatcher):
    """SlurmInfoWatcher that falls back to `squeue` for good, with one log line, when `sacct` cannot answer."""

    def __init__(self, delay_s: int = 60) -> None:
        super().__init__(delay_s=delay_s)
        self.use_sacct: Optional[bool] = None  # None: not tried yet

    def update(self) -> None:
        if self.use_sacct:
            return super().update()
        if self.use_sacct is None and self._make_command() is not None:
            try:
                output = subprocess.run(self._make_command(), capture_output=True, text=True, timeout=60)
            except (OSError, subprocess.SubprocessError) as error:
                output = None
                reason = str(error)
            else:
                reason = " ".join((output.stderr or output.stdout).split())
            if output is not None and output.returncode == 0:
                self.use_sacct = True
                return super().update()
            self.use_sacct = False
            log.info(f"sacct cannot report job states here ({reason or 'no output'}); following the jobs with squeue instead.")
        self._update_from_squeue()

    def _update_from_squeue(self) -> None:
        to_check = self._registered - self._finished
        if not to_check:
            return
        self._num_calls += 1
        command = ["squeue", "--noheader", "--array", "--states=all", "--me", "--format=%i|%T|%N"]
        try:
            listing = subprocess.run(command, capture_output=True, text=True, timeout=60, check=True).stdout
        except (OSError, subprocess.SubprocessError) as error:
            log.debug(f"squeue failed ({error}); job states unchanged")
            return
        listed = {}
        for line in listing.splitlines():
            job_id, state, nodes = (line.split("|") + ["", ""])[:3]
            listed[job_id.strip()] = {"JobID": job_id.strip(), "State": state.strip(), "NodeList": nodes.strip()}
        for job_id in to_check:
            # Absent: ended and already forgotten by slurmctld. A job just submitted is always listed.
            self._info_dict[job_id] = listed.get(job_id, {"JobID": job_id, "State": ENDED, "NodeList": ""})
        self._last_status_check = time.time()
        for job_id in to_check:
            if self.is_done(job_id, mode="cache"):
                self._finished.add(job_id)
