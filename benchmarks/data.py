"""The input pipeline benchmark of scripts/bench_data.py: images/s of the device loader and of the DataLoader path,
and the share of a training step spent waiting for the next batch."""
from __future__ import annotations

import engine.platform.oneflow_env  # noqa: F401  (before oneflow: loads the CUDA libraries it links against)

from dataclasses import asdict, dataclass
from pathlib import Path
import time
from typing import Iterable, Optional

import oneflow as flow
import oneflow.nn.functional as F

from common.files import atomic_write_json, atomic_write_text
from engine.platform.device import resolve_device
from engine.platform.errors import user_errors
from engine.platform.machine import machine
from input_pipeline.cifar100 import load_cifar100
from input_pipeline.device_loader import DeviceLoader
from input_pipeline.synthetic import make_synthetic
from input_pipeline.transforms_loader import TransformsLoader
from models.resnet import resnet18
from models.tiny import TinyCNN

MEAN, STD = [0.5071, 0.4865, 0.4409], [0.2673, 0.2564, 0.2762]


@dataclass
class DataBench:
    """What to measure (scripts/bench_data.py's flags, by the same names and in their order: data.json records them)."""

    images: int = 50000
    batch_size: int = 128
    workers: int = 2
    device_batches: int = 200
    classic_batches: int = 40
    tiny_steps: int = 40
    resnet18_steps: int = 3
    cifar_root: Optional[str] = None
    device: str = "cpu"
    out: str = "results/bench"
    quick: bool = False

    def __post_init__(self) -> None:
        if self.quick:  # few batches and steps, nothing written
            self.images, self.device_batches, self.classic_batches, self.tiny_steps, self.resnet18_steps, self.out = 10000, 40, 10, 10, 1, ""


def images_per_second(loader: Iterable, batches: int, warmup: int = 2) -> float:
    """Steady-state rate: the first `warmup` batches (worker start-up, first epoch plan) are not timed."""
    iterator = iter(loader)
    for _ in range(warmup):
        next(iterator)
    seen, start = 0, time.perf_counter()
    for _ in range(batches):
        _, labels = next(iterator)
        seen += labels.shape[0]
    return seen / (time.perf_counter() - start)


def input_share(model: flow.nn.Module, loader: Iterable, steps: int, warmup: int = 1) -> dict:
    """Time waiting for the next batch vs the whole step; each step ends with a host sync (loss.item())."""
    optimizer = flow.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    model.train()
    iterator = iter(loader)
    waiting = total = 0.0
    for step in range(warmup + steps):
        t0 = time.perf_counter()
        images, labels = next(iterator)
        t1 = time.perf_counter()
        loss = F.cross_entropy(model(images), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        loss.item()
        t2 = time.perf_counter()
        if step >= warmup:
            waiting, total = waiting + (t1 - t0), total + (t2 - t0)
    return {"steps": steps, "step_s": total / steps, "input_s": waiting / steps, "input_share": waiting / total}


def benchmark(args: DataBench) -> Optional[dict]:
    """Measure and print; unless args.out is '', write data.md / data.json there (data_<device>.* off the CPU)."""
    with user_errors():  # a GPU this OneFlow cannot run: one paragraph and exit 2, not an abort (engine.platform.device)
        args.device = resolve_device(args.device)
    info = machine()
    if args.cifar_root:
        data = load_cifar100(args.cifar_root, download=False)
        images, labels, source = data.train_images, data.train_labels, f"CIFAR-100 from {args.cifar_root}"
    else:
        data = make_synthetic(num_classes=100, train_size=args.images, test_size=10)
        images, labels, source = data.train_images, data.train_labels, f"synthetic, {args.images} images 32x32x3 uint8"
    print(f"machine: {info['cpu']}, {info['cores_available']} cores (load average {info['load_average_at_start']:.2f}), "
          f"oneflow {info['oneflow']}; data: {source}; batch {args.batch_size}")
    common = dict(batch_size=args.batch_size, device=args.device, mean=MEAN, std=STD, train=True, seed=0)

    rates = {
        "device": images_per_second(DeviceLoader(images, labels, **common), args.device_batches),
        "device_rotation_cutout": images_per_second(DeviceLoader(images, labels, rotation=15, cutout=8, **common), args.device_batches),
        "dataloader": images_per_second(TransformsLoader(images, labels, num_workers=args.workers, **common), args.classic_batches),
        "dataloader_rotation_cutout": images_per_second(
            TransformsLoader(images, labels, num_workers=args.workers, rotation=15, cutout=8, **common), args.classic_batches),
    }
    ratio = rates["device"] / rates["dataloader"]
    ratio_extra = rates["device_rotation_cutout"] / rates["dataloader_rotation_cutout"]
    print(f"device loader      {rates['device']:>10,.0f} img/s   (+rotation+cutout {rates['device_rotation_cutout']:,.0f})")
    print(f"dataloader ({args.workers} wk)  {rates['dataloader']:>10,.0f} img/s   (+rotation+cutout {rates['dataloader_rotation_cutout']:,.0f})")
    print(f"ratio              {ratio:>10.1f}x          (+rotation+cutout {ratio_extra:.1f}x)")

    flow.manual_seed(0)
    shares = {
        "tiny/device": input_share(TinyCNN(num_classes=100).to(args.device), DeviceLoader(images, labels, **common), args.tiny_steps),
        "tiny/dataloader": input_share(TinyCNN(num_classes=100).to(args.device), TransformsLoader(images, labels, num_workers=args.workers, **common),
                                       args.tiny_steps),
        "resnet18/device": input_share(resnet18(num_classes=100).to(args.device), DeviceLoader(images, labels, **common), args.resnet18_steps),
    }
    for name, s in shares.items():
        print(f"{name:<18} step {s['step_s'] * 1000:>9.1f} ms   input {s['input_s'] * 1000:>7.2f} ms   share {100 * s['input_share']:.2f}%  ({s['steps']} steps)")

    if not args.out:
        return None
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    result = {"machine": info, "data": source, "batch_size": args.batch_size, "workers": args.workers,
              "images_per_s": {k: round(v, 1) for k, v in rates.items()}, "ratio": round(ratio, 2),
              "ratio_rotation_cutout": round(ratio_extra, 2), "input_share": shares, "args": asdict(args)}
    name = "data" if args.device == "cpu" else f"data_{args.device.replace(':', '')}"
    atomic_write_json(out / f"{name}.json", result)
    atomic_write_text(out / f"{name}.md", report(result))
    print(f"wrote {out / (name + '.md')} and {out / (name + '.json')}")
    return result


def report(r: dict) -> str:
    m, ips, sh = r["machine"], r["images_per_s"], r["input_share"]
    rows = "\n".join(f"| {name} | {s['step_s'] * 1000:,.1f} | {s['input_s'] * 1000:.2f} | {100 * s['input_share']:.2f}% | {s['steps']} |"
                     for name, s in sh.items())
    return f"""# Input pipeline benchmark (`scripts/bench_data.py`)

Machine: {m['cpu']}, {m['cores_available']} cores available (load average {m['load_average_at_start']:.2f} at start;
other processes shared these cores), Python {m['python']}, OneFlow {m['oneflow']}, NumPy {m['numpy']}, CUDA: {m['cuda']};
{m['date_utc']} UTC. Device: {r['args'].get('device', 'cpu')}. Data: {r['data']}; batch size {r['batch_size']}; DataLoader workers: {r['workers']}.

## Images per second (training augmentation, steady state)

| loader | crop + flip | + RandomRotation(15) + Cutout(8) |
|---|---|---|
| device loader (`data.loader=device`, NumPy gather on CPU) | {ips['device']:,.0f} | {ips['device_rotation_cutout']:,.0f} |
| DataLoader + flowvision transforms, {r['workers']} workers (`data.loader=dataloader`) | {ips['dataloader']:,.0f} | {ips['dataloader_rotation_cutout']:,.0f} |
| ratio | **{r['ratio']:.1f}x** | {r['ratio_rotation_cutout']:.1f}x |

## Share of a training step spent waiting for input

Step = next batch + forward + backward + SGD step + a host sync (`loss.item()`), after one warm-up step;
batch size {r['batch_size']} for every model. The DataLoader's workers prepare batches while the step runs, so
its waiting share is small; its cost shows instead as CPU time taken from the step on a machine this small.

| model / loader | step (ms) | waiting for input (ms) | share | steps timed |
|---|---|---|---|---|
{rows}
"""
