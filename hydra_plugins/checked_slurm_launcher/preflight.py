"""Preflight of a Slurm sweep: can the partition ever run what the launcher config asks for?

Slurm accepts a job that no node of its partition can hold and leaves it pending forever (reason
`PartitionConfig`, `Resources` or `ReqNodeNotAvail`). Here the request (partition, CPUs, memory,
GPUs, time, nodes) is compared with what `scontrol show partition` and `sinfo` report before
anything is submitted; a request that can never be met becomes one ConfigError paragraph naming
each field, its value, the partition's limit and the override to use.
"""
# (no `from __future__ import annotations`: Hydra's plugin scan runs this module outside sys.modules,
# where dataclasses cannot resolve string annotations)

import re
import shutil
import subprocess
from dataclasses import dataclass
from typing import Any, Mapping, Optional, Sequence

from common.errors import ConfigError

SLURM_COMMANDS = ("sbatch", "srun", "sinfo", "scontrol", "squeue", "scancel")
UNLIMITED = ("UNLIMITED", "INFINITE", "NONE", "")


class SlurmUnavailable(ConfigError):
    """No Slurm here: its commands are missing or its controller does not answer."""


@dataclass
class Partition:
    """What a partition can give one job (maxima over its nodes; None: no limit)."""

    name: str
    state: str
    node_count: int
    cpus_per_node: int
    mem_mb_per_node: int
    gpus_per_node: int
    max_time_min: Optional[int] = None
    max_nodes: Optional[int] = None
    max_cpus_per_node: Optional[int] = None
    max_mem_mb_per_node: Optional[int] = None


@dataclass
class Request:
    """The resources a launcher config asks for, per job (the subset of its fields that Slurm can refuse)."""

    partition: Optional[str]
    cpus_per_task: Optional[int] = None
    tasks_per_node: int = 1
    mem_gb: Optional[float] = None
    gpus_per_node: Optional[int] = None
    timeout_min: int = 60
    nodes: int = 1

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> "Request":
        return cls(partition=params.get("partition"), cpus_per_task=params.get("cpus_per_task"),
                   tasks_per_node=int(params.get("tasks_per_node") or 1), mem_gb=params.get("mem_gb"),
                   gpus_per_node=params.get("gpus_per_node"), timeout_min=int(params.get("timeout_min") or 0),
                   nodes=int(params.get("nodes") or 1))


def _run(command: Sequence[str]) -> str:
    try:
        result = subprocess.run(list(command), capture_output=True, text=True, timeout=30)
    except subprocess.TimeoutExpired:
        raise SlurmUnavailable(f"`{' '.join(command)}` did not answer within 30 s: the Slurm controller (slurmctld) is not "
                               f"responding. Check `sinfo`; for the local test cluster run `scripts/slurm_local.sh start`.") from None
    if result.returncode != 0:
        message = " ".join((result.stderr or result.stdout).split())
        raise SlurmUnavailable(f"`{' '.join(command)}` failed ({message or 'exit code ' + str(result.returncode)}): Slurm is "
                               f"installed but its controller does not answer. Check `sinfo`; for the local test cluster run "
                               f"`scripts/slurm_local.sh start` (see docs/slurm.md).")
    return result.stdout


def require_slurm_commands() -> None:
    """Refuse early, in one paragraph, where Slurm's commands are not installed (submitit raises a bare RuntimeError)."""
    missing = [c for c in SLURM_COMMANDS if shutil.which(c) is None]
    if missing:
        raise SlurmUnavailable(
            f"hydra/launcher=slurm submits every sweep job to Slurm, but this machine has no Slurm: {', '.join(missing)} "
            f"not found on PATH. Run the sweep on a Slurm cluster's login node; or start a single-node test cluster "
            f"here with `scripts/slurm_local.sh start` (Debian/Ubuntu, root; see docs/slurm.md); or run the sweep on this "
            f"machine with hydra/launcher=parallel. Nothing was submitted.")


def parse_seconds(text: str) -> Optional[int]:
    """Slurm's time formats (minutes, minutes:seconds, hours:minutes:seconds, days-hours[:minutes[:seconds]])
    in seconds; None when unlimited or not set."""
    text = text.strip()
    if text.upper() in UNLIMITED or text.upper() in ("NOT_SET", "INVALID", "N/A"):
        return None
    days, _, clock = text.rpartition("-")
    parts = [int(p) for p in clock.split(":")]
    if days:  # days-hours, days-hours:minutes, days-hours:minutes:seconds
        hours, minutes, seconds = (parts + [0, 0])[:3]
    elif len(parts) == 3:
        hours, minutes, seconds = parts
    else:  # minutes, minutes:seconds
        hours, minutes, seconds = 0, parts[0], (parts[1] if len(parts) == 2 else 0)
    return ((int(days or 0) * 24 + hours) * 60 + minutes) * 60 + seconds


def parse_minutes(text: str) -> Optional[int]:
    """Like parse_seconds, in whole minutes (rounded up)."""
    seconds = parse_seconds(text)
    return None if seconds is None else -(-seconds // 60)


def count_gpus(gres: str) -> int:
    """GPUs in a node's gres string such as `gpu:4`, `gpu:a100:2(S:0-1),gpu:v100:1` or `(null)`."""
    total = 0
    for item in re.split(r",(?![^()]*\))", gres):
        item = re.sub(r"\(.*?\)", "", item).strip()
        if item.startswith("gpu"):
            count = item.split(":")[-1]
            total += int(count) if count.isdigit() else 1
    return total


def _limit(value: Optional[str]) -> Optional[int]:
    if value is None or value.upper() in UNLIMITED:
        return None
    digits = re.match(r"\d+", value)
    return int(digits.group()) if digits else None


def read_partitions() -> dict[str, dict[str, str]]:
    """Every partition's `scontrol show partition` fields, by name."""
    partitions = {}
    for line in _run(["scontrol", "show", "partition", "--oneliner"]).splitlines():
        fields = dict(re.findall(r"(\w+)=(\S*)", line))
        if "PartitionName" in fields:
            partitions[fields["PartitionName"]] = fields
    return partitions


def read_partition(name: str, fields: Mapping[str, str]) -> Partition:
    """The partition's limits, with its biggest node's CPUs, memory and GPUs from `sinfo`."""
    nodes = [line.split("|") for line in _run(["sinfo", "-h", "-N", "-p", name, "-o", "%N|%c|%m|%G"]).splitlines() if line]
    cpus = max((int(n[1]) for n in nodes), default=0)
    mem = max((_limit(n[2]) or 0 for n in nodes), default=0)
    gpus = max((count_gpus(n[3]) for n in nodes), default=0)
    return Partition(name=name, state=fields.get("State", "UNKNOWN"), node_count=len({n[0] for n in nodes}),
                     cpus_per_node=cpus, mem_mb_per_node=mem, gpus_per_node=gpus,
                     max_time_min=parse_minutes(fields.get("MaxTime", "UNLIMITED")), max_nodes=_limit(fields.get("MaxNodes")),
                     max_cpus_per_node=_limit(fields.get("MaxCPUsPerNode")), max_mem_mb_per_node=_limit(fields.get("MaxMemPerNode")))


def _smaller(*limits: Optional[int]) -> int:
    return min(limit for limit in limits if limit is not None)


def refusals(request: Request, partition: Partition, gpu_partitions: Sequence[str] = ()) -> list[tuple[str, str]]:
    """(problem, override) for every field of `request` that `partition` can never satisfy."""
    found: list[tuple[str, str]] = []
    where = f"partition '{partition.name}'"
    node_limit = _smaller(partition.node_count, partition.max_nodes)
    if request.nodes > node_limit:
        problem = f"hydra.launcher.nodes={request.nodes} asks for {request.nodes} nodes, but {where} has {node_limit}"
        found.append((problem, f"hydra.launcher.nodes={node_limit}"))
    cpu_limit = _smaller(partition.cpus_per_node, partition.max_cpus_per_node)
    if request.cpus_per_task and request.cpus_per_task * request.tasks_per_node > cpu_limit:
        times = f" x tasks_per_node={request.tasks_per_node}" if request.tasks_per_node > 1 else ""
        problem = (f"hydra.launcher.cpus_per_task={request.cpus_per_task}{times} asks for {request.cpus_per_task * request.tasks_per_node} "
                   f"CPUs per node, but the largest node of {where} has {cpu_limit}")
        found.append((problem, f"hydra.launcher.cpus_per_task={max(cpu_limit // request.tasks_per_node, 1)}"))
    mem_limit_mb = _smaller(partition.mem_mb_per_node, partition.max_mem_mb_per_node)
    if request.mem_gb and request.mem_gb * 1024 > mem_limit_mb:
        problem = (f"hydra.launcher.mem_gb={request.mem_gb:g} asks for {request.mem_gb:g} GB per node, but the largest node of "
                   f"{where} has {mem_limit_mb} MB")
        found.append((problem, f"hydra.launcher.mem_gb={mem_limit_mb // 1024}"))
    if request.gpus_per_node and request.gpus_per_node > partition.gpus_per_node:
        elsewhere = f" (partitions with GPUs: {', '.join(gpu_partitions)})" if gpu_partitions else ""
        problem = (f"hydra.launcher.gpus_per_node={request.gpus_per_node} asks for {request.gpus_per_node} GPU(s) per node, but "
                   f"the nodes of {where} have {partition.gpus_per_node or 'no'} GPUs{elsewhere}")
        found.append((problem, f"hydra.launcher.gpus_per_node={partition.gpus_per_node}"))
    if partition.max_time_min is not None and request.timeout_min > partition.max_time_min:
        problem = f"hydra.launcher.timeout_min={request.timeout_min} is longer than the time limit of {where} ({partition.max_time_min} min)"
        found.append((problem, f"hydra.launcher.timeout_min={partition.max_time_min}"))
    return found


def check_request(params: Mapping[str, Any]) -> Partition:
    """The partition the launcher `params` will submit to; ConfigError when the request can never run there."""
    require_slurm_commands()
    request = Request.from_params(params)
    partitions = read_partitions()
    names = ", ".join(sorted(partitions)) or "none"
    if request.partition is None:
        defaults = [name for name, fields in partitions.items() if fields.get("Default") == "YES"]
        if not defaults:
            raise ConfigError(f"hydra.launcher.partition is not set and this cluster has no default partition; choose one of "
                              f"its partitions ({names}) with hydra.launcher.partition=<name>. Nothing was submitted.")
        request.partition = defaults[0]
    if request.partition not in partitions:
        raise ConfigError(f"hydra.launcher.partition={request.partition}: this cluster has no partition of that name; its "
                          f"partitions are {names} (`sinfo` lists them); use e.g. hydra.launcher.partition="
                          f"{min(partitions) if partitions else '<name>'}. Nothing was submitted.")
    partition = read_partition(request.partition, partitions[request.partition])
    gpu_partitions = []
    if request.gpus_per_node and request.gpus_per_node > partition.gpus_per_node:
        gpu_partitions = [name for name, fields in partitions.items() if name != partition.name
                          and read_partition(name, fields).gpus_per_node >= request.gpus_per_node]
    found = refusals(request, partition, gpu_partitions)
    if found:
        raise ConfigError(f"this sweep's jobs could never start on Slurm, they would wait in the queue forever: "
                          f"{'; '.join(problem for problem, _ in found)}. Submit with "
                          f"`{' '.join(override for _, override in found)}` (or another hydra.launcher.partition). "
                          f"Nothing was submitted.")
    return partition
