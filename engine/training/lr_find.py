"""The LR range test (Smith 2017; fastai's lr_find) of scripts/lr_find.py: the run train.py would build, trained with
an exponentially growing LR, the loss read after every step; its smoothed curve, the LRs to pick from it, the files.

The test builds a fresh model from the config and throws it away: it never loads, changes or restores the weights of
a run (nothing is restored silently, because nothing it trains is kept)."""
import engine.platform.oneflow_env  # noqa: F401  (before oneflow: loads the CUDA libraries it links against)

import csv
import io
import itertools
import math
import statistics
from pathlib import Path
from typing import Sequence

import backend
from common.files import atomic_save_figure, atomic_write_text, json_text
from engine.config.compose import compose_config
from engine.platform.errors import fail, user_errors
from engine.run_dir.resume import train_command
from engine.training.backend_choice import use_backend

DIVERGED = 4.0  # stop once the loss, averaged over the last few raw steps, exceeds this multiple of its lowest such average
SUGGESTIONS = ("valley", "minimum", "steepest")  # fastai's suggestion functions; valley is its default


def exponential_lrs(min_lr: float, max_lr: float, steps: int) -> list[float]:
    return [min_lr * (max_lr / min_lr) ** (i / (steps - 1)) for i in range(steps)]


def half_window(steps: int) -> int:
    """Half the centred smoothing window: ~1/30 of the test, at least 2 steps."""
    return max(2, steps // 30)


def smoothed(losses: Sequence[float]) -> list[float]:
    """A centred running mean over ~1/15 of the test (at least 5 steps): unlike an EMA it does not lag the LR."""
    half = half_window(len(losses))
    return [sum(losses[max(0, i - half):i + half + 1]) / len(losses[max(0, i - half):i + half + 1]) for i in range(len(losses))]


class DivergenceWatch:
    """Whether the test has diverged, read on the raw loss: the mean of the last `window` losses (the trailing half of
    the centred window, so it lags by a few steps only) against its lowest value so far. fastai's EMA (beta 0.98)
    lags by ~50 steps: it stayed under 4x its best while the raw loss reached 53x its minimum."""

    def __init__(self, window: int) -> None:
        self.window, self.best = max(3, window), math.inf

    def diverged(self, losses: Sequence[float]) -> bool:
        if not math.isfinite(losses[-1]):
            return True
        if len(losses) < self.window:
            return False
        current = sum(losses[-self.window:]) / self.window
        self.best = min(self.best, current)
        return len(losses) > 2 * self.window and current > DIVERGED * self.best


def valley(smooth: Sequence[float]) -> int:
    """fastai's `valley`: the index halfway down the longest decreasing run of the smoothed loss, measured in thirds
    of the run as fastai does (its start plus one and a half thirds), where the loss still falls and is not yet flat."""
    n = len(smooth)
    lengths, start, end = [1] * n, 0, 0
    for i in range(1, n):
        for j in range(i):
            if smooth[i] < smooth[j] and lengths[i] < lengths[j] + 1:
                lengths[i] = lengths[j] + 1
        if lengths[end] < lengths[i]:
            end, start = i, i - lengths[i]
    sections = (end - start) / 3
    return min(n - 1, start + int(sections) + int(sections / 2))


def suggestions(lrs: Sequence[float], smooth: Sequence[float]) -> dict:
    """The LRs to pick from a range test: fastai's valley (the default), minimum/10 and steepest, plus Smith's
    interval [onset, minimum] to tune in (see scripts/lr_find.py)."""
    if len(lrs) < 3:
        raise ValueError("an LR range test needs at least 3 steps")
    best = min(range(len(smooth)), key=smooth.__getitem__)
    slopes = [(smooth[i + 1] - smooth[i - 1]) / math.log10(lrs[i + 1] / lrs[i - 1]) for i in range(1, max(best, 2))]
    steepest = 1 + min(range(len(slopes)), key=slopes.__getitem__)
    drop = smooth[0] - smooth[best]  # Smith's range: from where the loss starts to fall to where it stops
    onset = next(i for i in range(best + 1) if smooth[0] - smooth[i] >= 0.1 * drop)
    return {"valley_lr": lrs[valley(smooth)], "minimum_lr": lrs[best] / 10, "steepest_lr": lrs[steepest],
            "min_loss_lr": lrs[best], "onset_lr": lrs[onset], "search_interval": [lrs[onset], lrs[best]]}


def range_test(overrides: Sequence[str], min_lr: float, max_lr: float, steps: int) -> tuple[list, list]:
    """(LRs, losses) of the range test on the run `overrides` describe; stops at divergence."""
    cfg = compose_config(*overrides, "trainer.graph=false")  # eager: nn.Graph would apply its own schedule's LR
    use_backend(cfg.backend)  # the config's framework, chosen before anything binds `backend.flow`
    from engine.training.run import build_run, validated
    from engine.training.seeding import seed_epoch

    run = build_run(validated(cfg))  # a fresh model: no run's weights are read or written
    train_loader, _ = run.loaders()
    run.train_mode()
    lrs, losses, watch = [], [], DivergenceWatch(half_window(steps) + 1)
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
            if watch.diverged(losses):
                return lrs, losses
    raise AssertionError("unreachable")


def plot(lrs: Sequence[float], losses: Sequence[float], smooth: Sequence[float], found: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(lrs, losses, color="0.75", linewidth=0.8, label="loss")
    ax.plot(lrs, smooth, color="tab:blue", linewidth=1.5, label="smoothed loss")
    ax.axvspan(*found["search_interval"], color="tab:green", alpha=0.12, label="search interval")
    for name, color in zip(SUGGESTIONS, ("tab:red", "tab:purple", "tab:orange")):
        ax.axvline(found[f"{name}_lr"], color=color, linestyle="--", label=f"{name} {found[f'{name}_lr']:.3g}")
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


def one_test(overrides: Sequence[str], min_lr: float, max_lr: float, steps: int) -> tuple[list, list, list, dict]:
    """(LRs, losses, smoothed losses, suggestions) of one range test; a test that diverges at once is one paragraph."""
    with user_errors():
        lrs, losses = range_test(overrides, min_lr, max_lr, steps)
    if len(losses) < 3:
        fail(f"the loss diverged within {len(losses)} steps, at LR {lrs[-1]:.3g}; start lower (--min-lr).")
    smooth = smoothed(losses)
    return lrs, losses, smooth, suggestions(lrs, smooth)


def seed_spread(overrides: Sequence[str], found: dict, seeds: int, min_lr: float, max_lr: float, steps: int) -> dict:
    """Each suggestion over `seeds` seeds (the config's seed first, then the next ones): values, geometric mean, and
    max/min, the factor by which the suggestion moves with nothing but the seed."""
    first = int(compose_config(*overrides).seed)
    per_seed = [found] + [one_test([*overrides, f"seed={first + i}"], min_lr, max_lr, steps)[3] for i in range(1, seeds)]
    spread = {"seeds": list(range(first, first + seeds))}
    for name in SUGGESTIONS:
        values = [f[f"{name}_lr"] for f in per_seed]
        spread[name] = {"values": values, "geometric_mean": statistics.geometric_mean(values),
                        "max_over_min": max(values) / min(values)}
    return spread


def follow_up(overrides: Sequence[str], found: dict, suggest: str) -> str:
    """The commands to use the result, with the range test's own overrides (e.g. experiment=digits) kept: Hydra refuses
    `hydra.sweeper.params.<key>=` on the command line ("Sweeping over Hydra's configuration is not supported"), while
    a sweep override of the key itself is what the Optuna sweeper takes."""
    kept = [o for o in overrides if not o.startswith(("optimizer.lr=", "hydra."))]
    low, high = found["search_interval"]
    train = train_command(*kept, f"optimizer.lr={found[suggest + '_lr']:.3g}")
    tune = train_command("-m", "hparams_search=lr", *kept, f"optimizer.lr=tag(log, interval({low:.3g}, {high:.3g}))")
    return f"train with it: {train}\nor tune the base LR in [{low:.3g}, {high:.3g}]: {tune}"


def lr_range_test(overrides: Sequence[str], min_lr: float, max_lr: float, steps: int, out: Path,
                  suggest: str = "valley", seeds: int = 1) -> dict:
    """Run the test, write lr_find.csv/.json/.png to `out`, print what to pick; return the suggestions (and with
    `seeds` > 1 their spread over that many seeds)."""
    lrs, losses, smooth, found = one_test(overrides, min_lr, max_lr, steps)
    found = {"suggestion": suggest, "suggested_lr": found[f"{suggest}_lr"], **found}
    if seeds > 1:
        found["seed_spread"] = seed_spread(overrides, found, seeds, min_lr, max_lr, steps)
    out.mkdir(parents=True, exist_ok=True)
    table = io.StringIO()
    writer = csv.writer(table)
    writer.writerow(["step", "lr", "loss", "smoothed"])
    writer.writerows([i, lr, loss, s] for i, (lr, loss, s) in enumerate(zip(lrs, losses, smooth)))
    atomic_write_text(out / "lr_find.csv", table.getvalue())
    atomic_write_text(out / "lr_find.json", json_text({"overrides": list(overrides), "backend": backend.name(),
                                                       "backend_version": backend.version(), "min_lr": min_lr, "max_lr": max_lr,
                                                       "steps": steps, "steps_run": len(losses), **found}))
    plot(lrs, losses, smooth, found, out / "lr_find.png")
    print(f"{len(losses)} steps, LR {lrs[0]:.3g} .. {lrs[-1]:.3g}{' (stopped: the loss diverged)' if len(losses) < steps else ''}"
          f": suggested LR ({suggest}) {found['suggested_lr']:.3g}; valley {found['valley_lr']:.3g}, minimum/10 "
          f"{found['minimum_lr']:.3g}, steepest {found['steepest_lr']:.3g} (lowest smoothed loss at {found['min_loss_lr']:.3g}).")
    for name, spread in found.get("seed_spread", {}).items():
        if name != "seeds":
            print(f"  {name} over seeds {found['seed_spread']['seeds']}: "
                  f"{', '.join(f'{v:.3g}' for v in spread['values'])} (x{spread['max_over_min']:.2f} from lowest to highest)")
    print(f"{follow_up(overrides, found, suggest)}\nfiles: {out}/lr_find.png, lr_find.csv, lr_find.json")
    return found
