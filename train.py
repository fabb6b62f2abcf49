"""Train one model under one learning-rate schedule: `python train.py scheduler=cosine`.

Reads top to bottom: build everything from the Hydra config (conf/), then epochs of training and
evaluation, logging the LR of every optimizer step and the metrics of every epoch to TensorBoard
and summary.json in the run directory.
"""
import engine.oneflow_env  # noqa: F401  (first: loads the CUDA libraries oneflow links against)

import time
from pathlib import Path

import hydra
import oneflow as flow
import oneflow.nn.functional as F
from hydra.core.hydra_config import HydraConfig
from hydra.utils import instantiate
from omegaconf import DictConfig
from tensorboardX import SummaryWriter
from tqdm import tqdm

from engine.errors import ConfigError, user_errors
from engine.run_files import RunSummary
from input_pipeline import steps_per_epoch
from input_pipeline.device_loader import DeviceLoader
from schedulers import build_lr_schedule


def resolve_device(name: str) -> str:
    if name == "auto":
        return "cuda" if flow.cuda.is_available() else "cpu"
    if name.startswith("cuda") and not flow.cuda.is_available():
        raise ConfigError(f"device={name!r} was asked for, but OneFlow sees no CUDA device here; use device=cpu or device=auto.")
    if name != "cpu" and not name.startswith("cuda"):
        raise ConfigError(f"device={name!r} is not valid; use auto, cpu, cuda or cuda:N.")
    return name


def evaluate(model: flow.nn.Module, loader: DeviceLoader) -> dict:
    """Mean loss and top-1/top-5 accuracy (%); sums stay on the device until the end."""
    model.eval()
    loss_sum, correct1, correct5 = flow.zeros(()), flow.zeros(()), flow.zeros(())
    with flow.no_grad():
        for images, labels in loader:
            logits = model(images)
            loss_sum = loss_sum.to(logits.device) + F.cross_entropy(logits, labels, reduction="sum")
            top5 = logits.topk(5, dim=1)[1]
            hits = top5 == labels.unsqueeze(1)
            correct1 = correct1.to(logits.device) + hits[:, 0].sum()
            correct5 = correct5.to(logits.device) + hits.sum()
    n = len(loader.labels)
    return {"val/loss": loss_sum.item() / n, "val/acc1": 100.0 * correct1.item() / n, "val/acc5": 100.0 * correct5.item() / n}


@hydra.main(version_base="1.3", config_path="conf", config_name="config")
def main(cfg: DictConfig) -> None:
    run_dir = Path(HydraConfig.get().runtime.output_dir)
    with user_errors():
        device = resolve_device(cfg.device)
        flow.manual_seed(cfg.seed)
        model = instantiate(cfg.model).to(device)
        optimizer = instantiate(cfg.optimizer)(model.parameters())
        # The schedule is built (and validated) before any data is loaded: bad configs fail fast.
        schedule = build_lr_schedule(cfg.scheduler, optimizer, steps_per_epoch(cfg.data.train_size, cfg.data.batch_size),
                                     max_epochs=cfg.trainer.max_epochs)
        data = instantiate(cfg.data.dataset)
        if len(data.train_labels) != cfg.data.train_size:
            raise ConfigError(f"data.train_size={cfg.data.train_size} but the dataset holds {len(data.train_labels)} training images; set data.train_size={len(data.train_labels)}.")
    aug = cfg.data.augment
    train_loader = DeviceLoader(data.train_images, data.train_labels, cfg.data.batch_size, device, cfg.data.mean, cfg.data.std,
                                train=True, crop_padding=aug.crop_padding, horizontal_flip=aug.horizontal_flip, seed=cfg.seed)
    test_loader = DeviceLoader(data.test_images, data.test_labels, cfg.data.eval_batch_size, device, cfg.data.mean, cfg.data.std, train=False)

    writer = SummaryWriter(logdir=str(run_dir))
    summary = RunSummary(run_dir, scheduler=schedule.name, device=device, epochs=0, max_epochs=cfg.trainer.max_epochs)
    best = {"val/acc1": -1.0}
    global_step, train_images, train_seconds, started = 0, 0, 0.0, time.time()

    for epoch in range(cfg.trainer.max_epochs):
        model.train()
        train_loader.set_epoch(epoch)
        epoch_start = time.time()
        loss_sum, correct, seen = flow.zeros((), device=device), flow.zeros((), device=device), 0
        bar = tqdm(train_loader, desc=f"epoch {epoch + 1}/{cfg.trainer.max_epochs}", disable=not cfg.trainer.progress, leave=False)
        for images, labels in bar:
            lrs = [group["lr"] for group in optimizer.param_groups]  # the LR this step applies
            logits = model(images)
            loss = F.cross_entropy(logits, labels)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.after_optimizer_step()

            writer.add_scalar("lr", lrs[0], global_step)
            for i, lr in enumerate(lrs[1:], start=1):
                writer.add_scalar(f"lr/group{i}", lr, global_step)
            loss_sum += loss.detach() * len(labels)
            correct += (logits.argmax(1) == labels).sum()
            seen += len(labels)
            global_step += 1
            if global_step % cfg.trainer.log_every_n_steps == 0:  # the only per-step host sync
                writer.add_scalar("train/loss", loss.item(), global_step)
                bar.set_postfix(loss=f"{loss_sum.item() / seen:.3f}", acc=f"{100 * correct.item() / seen:.1f}", lr=f"{lrs[0]:.4g}")
        train_seconds += time.time() - epoch_start
        train_images += seen

        metrics = evaluate(model, test_loader)
        metrics["train/loss_epoch"] = loss_sum.item() / seen
        metrics["train/acc1"] = 100.0 * correct.item() / seen
        schedule.after_epoch(metrics)
        for name, value in metrics.items():
            writer.add_scalar(name, value, epoch + 1)
        writer.flush()
        if metrics["val/acc1"] > best["val/acc1"]:
            best = {"val/acc1": metrics["val/acc1"], "val/acc5": metrics["val/acc5"], "epoch": epoch + 1}
        summary.update(epochs=epoch + 1, global_step=global_step,
                       final_acc1=metrics["val/acc1"], final_acc5=metrics["val/acc5"], final_loss=metrics["val/loss"],
                       best_acc1=best["val/acc1"], best_acc5=best["val/acc5"], best_epoch=best["epoch"],
                       wall_time_s=round(time.time() - started, 3), images_per_s=round(train_images / train_seconds, 1))
        print(f"epoch {epoch + 1}/{cfg.trainer.max_epochs}  loss {metrics['train/loss_epoch']:.4f}  "
              f"val/acc1 {metrics['val/acc1']:.2f}  val/acc5 {metrics['val/acc5']:.2f}  lr {optimizer.param_groups[0]['lr']:.4g}")

    summary.update(status="completed", wall_time_s=round(time.time() - started, 3))
    writer.close()
    print(f"run directory: {run_dir}")


if __name__ == "__main__":
    main()
