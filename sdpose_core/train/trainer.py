"""The training loop: seeded, resumable, atomic checkpoints every epoch, AP on val every epoch.

``train(TrainOptions(...))`` is what ``sdpose train`` calls; the same function runs under
``torchrun`` (DDP) when the environment describes a process group.
"""
from __future__ import annotations

import math
import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, DistributedSampler, RandomSampler
from tqdm.auto import tqdm

from sdpose_core.data.topdown import CocoKeypointDataset, collate
from sdpose_core.data.transforms import AugmentConfig
from sdpose_core.data.codecs import codec_for
from sdpose_core.evaluate.predict import evaluate_model
from sdpose_core.io.checkpoint import load_body_strict, load_model, load_state_dict_strict, read_backbone, save_model
from sdpose_core.models.backbone import load_backbone_
from sdpose_core.train.feature_cache import cache_training_crops
from sdpose_core.train.distributed import DistInfo, all_reduce_mean, barrier, cleanup, setup_distributed
from sdpose_core.train.recipes import build_objective, build_student, get_recipe
from sdpose_core.train.run_dir import RunDir
from sdpose_core.train.targets import CodecTargets


TRAIN_IMAGE_CACHE = 8192  # decoded training images kept in memory (SynthPose: 37 KB each)

# "default": the mmpose/SDPose pipeline (flip, half body, rotation, scale, shift); "flip": flips
# only, what a minutes-long CPU budget can afford (docs/training.md); "none": no augmentation.
AUGMENTS = {
    "default": AugmentConfig(),
    "flip": AugmentConfig(half_body_prob=0.0, rotation_prob=0.0, scale_factor=0.0, shift_prob=0.0),
    "none": AugmentConfig(flip_prob=0.0, half_body_prob=0.0, rotation_prob=0.0, scale_factor=0.0, shift_prob=0.0),
}


@dataclass
class TrainOptions:
    """Arguments of one training run (``sdpose train``); None means the recipe's default."""

    recipe: str
    data: Path
    out: Path
    val: Path | None = None
    epochs: int | None = None
    batch_size: int | None = None
    lr: float | None = None
    teacher: Path | None = None
    backbone: Path | None = None
    model: str | None = None
    seed: int = 0
    workers: int = 0
    progress: bool = True
    max_steps_per_epoch: int | None = None
    augment: str = "default"
    finetune_backbone: bool = False
    feature_cache: Path | None = None  # folder: frozen backbone / teacher outputs computed once (feature_cache.py)
    init: Path | None = None  # warm start: every weight from a finished model of the same architecture
    init_body: Path | None = None  # then every weight but the head from a model of the same body, any head

    def __post_init__(self) -> None:
        recipe = get_recipe(self.recipe)
        self.epochs = recipe.epochs if self.epochs is None else int(self.epochs)
        self.batch_size = recipe.batch_size if self.batch_size is None else int(self.batch_size)
        self.lr = recipe.lr if self.lr is None else float(self.lr)
        if self.epochs <= 0:
            raise ValueError(f"--epochs must be > 0, got {self.epochs}")
        if self.batch_size <= 0:
            raise ValueError(f"--batch-size must be > 0, got {self.batch_size}")
        if self.augment not in AUGMENTS:
            raise ValueError(f"--augment must be one of {', '.join(AUGMENTS)}, got {self.augment!r}")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise ValueError(f"--lr must be a positive number, got {self.lr}")

    def to_json(self) -> dict:
        return {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(self).items()}


def keep_frozen_norms_in_eval(model: nn.Module) -> None:
    """BatchNorm layers whose parameters are frozen also keep their running statistics
    (a frozen backbone, as in DWPose stage 2, must not drift through its BN buffers)."""
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            if not any(p.requires_grad for p in module.parameters()):
                module.eval()


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def optimizer_step(optimizer: torch.optim.Optimizer, loss: torch.Tensor, where: str, advice: str) -> None:
    """One step on ``loss``; a non-finite loss raises FloatingPointError (``where`` it happened, what to do)."""
    if not torch.isfinite(loss):
        raise FloatingPointError(f"the loss became {loss.item()} at {where}; {advice}")
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()


def cosine_lr(step: int, total: int, base: float, warmup: int) -> float:
    """Linear warm-up then cosine decay to 1 % of ``base``."""
    if step < warmup:
        return base * (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return base * (0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress))))


class Trainer:
    """Owns the models, data, optimiser and run folder of one run.

    Args:
        objective / train_set: used instead of the recipe's objective and the COCO folder
            ``opts.data`` with the codec's targets (``distill-folder``: teacher heatmaps).
        name: the run's label in progress lines and checkpoints (default: the recipe's name).
    """

    def __init__(self, opts: TrainOptions, objective: nn.Module | None = None, train_set: Dataset | None = None,
                 name: str | None = None) -> None:
        self.opts, self.recipe = opts, get_recipe(opts.recipe)
        self.name = name or self.recipe.name
        self.dist: DistInfo = setup_distributed()
        seed_everything(opts.seed + self.dist.rank)
        self.run = RunDir(opts.out)
        self.teacher = load_model(opts.teacher) if opts.teacher else None
        self.student = build_student(self.recipe, opts.model, self.teacher)
        if opts.init:  # a curriculum's next stage (docs/training.md); the optimiser and schedule start afresh
            load_state_dict_strict(self.student, load_model(opts.init).state_dict(), str(opts.init))
        if opts.init_body:  # e.g. the heatmap teacher's third stage on the SimCC teacher's body
            load_body_strict(self.student, load_model(opts.init_body).state_dict(), str(opts.init_body))
        if opts.backbone:  # pretrained; frozen (BN statistics too: keep_frozen_norms_in_eval) unless fine-tuned
            load_backbone_(self.student, read_backbone(opts.backbone), freeze=not opts.finetune_backbone)
        self.objective = objective if objective is not None else build_objective(self.recipe, self.student, self.teacher)
        self.train_set = train_set if train_set is not None else CocoKeypointDataset(
            opts.data, self.student.config.input_size, train=True, augment=AUGMENTS[opts.augment], seed=opts.seed,
            target_fn=CodecTargets(codec_for(self.student.config)), cache_images=TRAIN_IMAGE_CACHE)
        if opts.feature_cache is not None:
            if not isinstance(self.train_set, CocoKeypointDataset):
                raise ValueError("cached features serve a COCO training folder (--data), not this run's data")
            self.train_set = cache_training_crops(self.train_set, self.student, self.objective, Path(opts.feature_cache),
                                                  progress=opts.progress and self.dist.is_main)
        self.val_set = CocoKeypointDataset(opts.val, self.student.config.input_size) if opts.val else None
        params = [p for p in (*self.student.parameters(), *self._objective_params()) if p.requires_grad]
        self.optimizer = torch.optim.AdamW(params, lr=opts.lr, weight_decay=self.recipe.weight_decay)
        self.model = self.student
        if self.dist.enabled:
            self.model = nn.parallel.DistributedDataParallel(self.student)
        self.steps_per_epoch = self._steps_per_epoch()
        self.start_epoch = self._resume()

    def _objective_params(self) -> list[nn.Parameter]:
        """Trainable parameters owned by the loss (e.g. DWPose's 1x1 align conv), never the teacher's."""
        return [p for n, p in self.objective.named_parameters() if not n.startswith("teacher.")]

    def _objective_state(self) -> dict:
        return {k: v for k, v in self.objective.state_dict().items() if not k.startswith("teacher.")}

    def _steps_per_epoch(self) -> int:
        per_rank = math.ceil(len(self.train_set) / self.dist.world_size)
        steps = max(1, per_rank // self.opts.batch_size)
        return min(steps, self.opts.max_steps_per_epoch or steps)

    def _loader(self, epoch: int) -> DataLoader:
        self.train_set.set_epoch(epoch)
        if self.dist.enabled:
            sampler = DistributedSampler(self.train_set, seed=self.opts.seed, drop_last=True)
            sampler.set_epoch(epoch)
        else:
            generator = torch.Generator().manual_seed(self.opts.seed * 1000 + epoch)
            sampler = RandomSampler(self.train_set, generator=generator)
        return DataLoader(self.train_set, batch_size=self.opts.batch_size, sampler=sampler, drop_last=True,
                          num_workers=self.opts.workers, collate_fn=collate)

    def _resume(self) -> int:
        """Continue after the last finished epoch if the run folder holds one; else start at 0."""
        state, previous = self.run.load_state(), self.run.read_config()
        if (state is not None or previous is not None) and (previous or {}).get("recipe") != self.opts.recipe:
            raise ValueError(f"{self.run.root} holds a {(previous or {}).get('recipe')!r} run; "
                             f"use another --out for recipe {self.opts.recipe!r}")
        if state is None:
            if previous is None and self.run.read_metrics():
                raise ValueError(f"{self.run.root} holds a metrics log but no config.json (not a run folder "
                                 "of this trainer, or a bundled history): use another --out")
            if self.dist.is_main:
                self.run.write_config(self.opts.to_json())
                self.run.truncate_metrics_after(-1)  # this run's first epoch, killed before its state was saved
            return 0
        self.student.load_state_dict(state["model"])
        self.objective.load_state_dict(state["objective"], strict=False)
        self.optimizer.load_state_dict(state["optimizer"])
        torch.set_rng_state(state["torch_rng"])
        epoch = int(state["epoch"])
        if self.dist.is_main:
            self.run.truncate_metrics_after(epoch)
        return epoch + 1

    def train_epoch(self, epoch: int) -> dict[str, float]:
        self.model.train()
        keep_frozen_norms_in_eval(self.student)
        sums: dict[str, float] = {}
        loader = self._loader(epoch)
        bar = tqdm(loader, total=self.steps_per_epoch, desc=f"{self.name} epoch {epoch + 1}/{self.opts.epochs}",
                   disable=not (self.opts.progress and self.dist.is_main), leave=False)
        for step, batch in enumerate(bar):
            if step >= self.steps_per_epoch:
                break
            global_step = epoch * self.steps_per_epoch + step
            for group in self.optimizer.param_groups:
                group["lr"] = cosine_lr(global_step, self.opts.epochs * self.steps_per_epoch, self.opts.lr,
                                        warmup=min(100, self.steps_per_epoch))
            terms = self.objective(self.model, batch, epoch, self.opts.epochs)
            loss = terms["total"]
            optimizer_step(self.optimizer, loss, f"epoch {epoch + 1} step {step}",
                           "lower --lr (the last finished epoch is kept in the run folder)")
            for name, value in terms.items():
                sums[name] = sums.get(name, 0.0) + float(value.detach())
            bar.set_postfix(loss=f"{loss.item():.4g}")
        count = max(1, min(self.steps_per_epoch, step + 1))
        return {k: float(all_reduce_mean(torch.tensor(v / count), self.dist)) for k, v in sums.items()}

    def checkpoint(self, epoch: int, record: dict) -> None:
        """Snapshot (a loadable model), metrics row, then the full state that marks the epoch finished.

        The state goes last: a kill before it leaves the previous epoch as the last finished one,
        and resuming drops this epoch's row and trains it again; a kill after it has logged the row.
        """
        save_model(self.student, self.run.snapshot_path(epoch), epoch=epoch, metrics=record,
                   recipe=self.name)
        self.run.log(record)
        self.run.save_state({"epoch": epoch, "model": self.student.state_dict(),
                             "objective": self._objective_state(), "optimizer": self.optimizer.state_dict(),
                             "torch_rng": torch.get_rng_state()})

    def fit(self) -> list[dict]:
        history = []
        for epoch in range(self.start_epoch, self.opts.epochs):
            start = time.perf_counter()
            losses = self.train_epoch(epoch)
            record = {"epoch": epoch, "split": "train", "seconds": round(time.perf_counter() - start, 2), **losses}
            if self.dist.is_main:
                if self.val_set is not None:
                    record.update(evaluate_model(self.student, self.val_set, progress=False))
                self.checkpoint(epoch, record)
                if self.opts.progress:
                    shown = ", ".join(f"{k} {v:.4g}" for k, v in record.items() if k in ("total", "AP", "PCK@0.2"))
                    tqdm.write(f"[{self.name}] epoch {epoch + 1}/{self.opts.epochs}: {shown}")
            barrier(self.dist)
            history.append(record)
        if self.dist.is_main:
            save_model(self.student, self.run.root / "model.pt", recipe=self.name, epochs=self.opts.epochs)
        return history


def train(opts: TrainOptions) -> list[dict]:
    """Train (or resume) a run; returns the per-epoch records of this invocation."""
    trainer = Trainer(opts)
    try:
        return trainer.fit()
    finally:
        cleanup(trainer.dist)
