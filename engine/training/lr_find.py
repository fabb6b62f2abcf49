"""The LR range test (Smith 2017; fastai's lr_find) of scripts/lr_find.py: the run train.py would build, trained with
an exponentially growing LR, the loss read after every step; its smoothed curve, the LRs to pick from it, the files."""
import engine.platform.oneflow_env  # noqa: F401  (before oneflow: loads the CUDA libraries it links against)

import csv
import io
import itertools
import math
from pathlib import Path
from typing import Sequence

from common.files import atomic_save_figure, atomic_write_text, json_text
from engine.config.compose import compose_config
from engine.platform.errors import fail, user_errors
from engine.training.run import build_run
from engine.training.seeding import seed_epoch

SMOOTHING = 0.98
DIVERGED = 4.0  # stop once the smoothed loss exceeds this multiple of its best


def exponential_lrs(min_lr: float, max_lr: float, steps: int) -> list[float]:
    return [min_lr * (max_lr / min_lr) ** (i / (steps - 1)) for i in range(steps)]


def running_loss(losses: Sequence[float], beta: float = SMOOTHING) -> list[float]:
    """fastai's bias-corrected exponential moving average: what the divergence check watches while the test runs."""
    average, out = 0.0, []
    for i, loss in enumerate(losses, 1):
        average = beta * average + (1 - beta) * loss
        out.append(average / (1 - beta ** i))
    return out


def smoothed(losses: Sequence[float]) -> list[float]:
    """A centred running mean over ~1/15 of the test (at least 5 steps): unlike an EMA it does not lag the LR."""
    half = max(2, len(losses) // 30)
    return [sum(losses[max(0, i - half):i + half + 1]) / len(losses[max(0, i - half):i + half + 1]) for i in range(len(losses))]


def suggestions(lrs: Sequence[float], smooth: Sequence[float]) -> dict:
    """min_loss_lr, steepest_lr, suggested_max_lr and search_interval of a range test (see the module doc)."""
    if len(lrs) < 3:
        raise ValueError("an LR range test needs at least 3 steps")
    best = min(range(len(smooth)), key=smooth.__getitem__)
    slopes = [(smooth[i + 1] - smooth[i - 1]) / math.log10(lrs[i + 1] / lrs[i - 1]) for i in range(1, max(best, 2))]
    steepest = 1 + min(range(len(slopes)), key=slopes.__getitem__)
    drop = smooth[0] - smooth[best]  # Smith's range: from where the loss starts to fall to where it stops
    onset = next(i for i in range(best + 1) if smooth[0] - smooth[i] >= 0.1 * drop)
    return {"min_loss_lr": lrs[best], "steepest_lr": lrs[steepest], "suggested_max_lr": lrs[best] / 10,
            "onset_lr": lrs[onset], "search_interval": [lrs[onset], lrs[best]]}


def range_test(overrides: Sequence[str], min_lr: float, max_lr: float, steps: int) -> tuple[list, list]:
    """(LRs, losses) of the range test on the run `overrides` describe; stops at divergence."""
    cfg = compose_config(*overrides, "trainer.graph=false")  # eager: nn.Graph would apply its own schedule's LR
    run = build_run(cfg)
    train_loader, _ = run.loaders()
    run.train_mode()
    lrs, losses, best = [], [], math.inf
    plan = iter(exponential_lrs(min_lr, max_lr, steps))
    for epoch in itertools.count():
        train_loader.set_epoch(epoch)
        seed_epoch(cfg.seed, epoch)
        for images, labels in train_loader:
            lr = next(plan, None)
            if lr is None:
                return lrs, losses
            for group in run.steps.optimizer.param_groups:
                group["lr"] = lr
            loss, _ = run.steps.train(images, labels)
            lrs.append(lr)
            losses.append(float(loss.numpy()))
            current = running_loss(losses)[-1]
            if not math.isfinite(current) or (len(losses) > 10 and current > DIVERGED * best):
                return lrs, losses
            best = min(best, current)
    raise AssertionError("unreachable")


def plot(lrs: Sequence[float], losses: Sequence[float], smooth: Sequence[float], found: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(lrs, losses, color="0.75", linewidth=0.8, label="loss")
    ax.plot(lrs, smooth, color="tab:blue", linewidth=1.5, label="smoothed loss")
    ax.axvspan(*found["search_interval"], color="tab:green", alpha=0.12, label="search interval")
    ax.axvline(found["suggested_max_lr"], color="tab:red", linestyle="--", label=f"suggested max LR {found['suggested_max_lr']:.3g}")
    ax.set_xscale("log")
    ax.set_xlabel("learning rate (one optimizer step each, growing exponentially)")
    ax.set_ylabel("training loss")
    finite = [v for v in smooth if math.isfinite(v)]
    ax.set_ylim(min(finite) * 0.9, min(max(finite), 3 * finite[0]) * 1.05)
    ax.legend(fontsize=8)
    ax.grid(True, color="0.92")
    fig.tight_layout()
    atomic_save_figure(fig, path, dpi=110)
    plt.close(fig)


def lr_range_test(overrides: Sequence[str], min_lr: float, max_lr: float, steps: int, out: Path) -> dict:
    """Run the test, write lr_find.csv/.json/.png to `out`, print what to pick; return the suggestions."""
    with user_errors():
        lrs, losses = range_test(overrides, min_lr, max_lr, steps)
    if len(losses) < 3:
        fail(f"the loss diverged within {len(losses)} steps, at LR {lrs[-1]:.3g}; start lower (--min-lr).")
    smooth = smoothed(losses)
    found = suggestions(lrs, smooth)
    out.mkdir(parents=True, exist_ok=True)
    table = io.StringIO()
    writer = csv.writer(table)
    writer.writerow(["step", "lr", "loss", "smoothed"])
    writer.writerows([i, lr, loss, s] for i, (lr, loss, s) in enumerate(zip(lrs, losses, smooth)))
    atomic_write_text(out / "lr_find.csv", table.getvalue())
    atomic_write_text(out / "lr_find.json", json_text({"overrides": list(overrides), "min_lr": min_lr,
                                                       "max_lr": max_lr, "steps": steps,
                                                       "steps_run": len(losses), **found}))
    plot(lrs, losses, smooth, found, out / "lr_find.png")
    low, high = found["search_interval"]
    print(f"{len(losses)} steps, LR {lrs[0]:.3g} .. {lrs[-1]:.3g}: lowest smoothed loss at LR {found['min_loss_lr']:.3g}, "
          f"steepest descent at {found['steepest_lr']:.3g}.\nsuggested max LR (onecycle/cyclic/WSD peak): "
          f"optimizer.lr={found['suggested_max_lr']:.3g}; tune the base LR in [{low:.3g}, {high:.3g}]: train.py -m "
          f"hparams_search=lr 'hydra.sweeper.params.optimizer.lr=tag(log, interval({low:.3g}, {high:.3g}))'\n"
          f"files: {out}/lr_find.png, lr_find.csv, lr_find.json")
    return found
