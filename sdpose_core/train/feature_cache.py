"""Feature cache: a frozen backbone and a frozen teacher computed once per training crop and flip.

With flip-only augmentation (``--augment flip`` or ``none``) every training sample is one of two
crops of its person, the window or its mirror. A student whose pretrained backbone is frozen (its
BatchNorm statistics too, ``keep_frozen_norms_in_eval``) computes the same features for that crop
in every epoch, and a frozen teacher the same outputs. So both are computed once, for all
``2 N`` crops, saved beside the run, and every training step reads them instead of decoding the
image, cropping it and running the backbone (and the teacher)::

    crop i, flip f --backbone--> features[i, f]  (N, 2, C, h, w)
                   --teacher---> teacher.<field>[i, f]  (N, 2, ...)   what the objective reads

The batch then carries ``features`` (the student skips its backbone, ``TokenPoseModel.forward``)
and ``teacher.<field>`` keys (``objectives.TeacherObjective.teacher_view``). Sample order, flips
and targets are those of the uncached run (same ``CocoKeypointDataset.window`` stream): only
floating-point rounding differs (the backbone runs on other batches). ``benchmarks/feature_cache.py``
measures the speed-up and compares the two runs.

Cache files are named by a hash of what they depend on (the module's weights, the annotation
file, the crop size) and hold one field each, so a changed backbone or teacher never reads stale
features, and recipes reading the same teacher share its files (``teacher-KEY-simcc_x.pt`` serves
DWPose and NKD).
"""
from __future__ import annotations

import hashlib
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

try:  # POSIX; elsewhere two runs started together may both compute a cache file (same bytes)
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None

import torch
from torch import nn
from torch.utils.data import Dataset
from tqdm.auto import tqdm

from sdpose_core.data.topdown import CocoKeypointDataset, crop_sample
from sdpose_core.io.atomic import atomic_torch_save
from sdpose_core.train.objectives import TEACHER_PREFIX, TeacherObjective

Compute = Callable[[torch.Tensor], dict[str, torch.Tensor]]  # images (B, 3, H, W) -> {name: (B, ...)}


def check_cacheable(dataset: CocoKeypointDataset) -> None:
    """ValueError unless the dataset's only augmentation is a flip (a crop = window or mirror)."""
    cfg = dataset.augment_config
    if cfg is not None and (cfg.half_body_prob > 0 or cfg.rotation_prob > 0 or cfg.scale_factor > 0
                            or cfg.shift_prob > 0):
        raise ValueError("cached features need flip-only augmentation (--augment flip or none): with "
                         "shifts, scaling, rotation or half-body crops every epoch sees new crops")


def frozen_backbone(student: nn.Module) -> nn.Module:
    """The student's backbone if it is frozen; ValueError saying why it cannot be cached otherwise."""
    backbone = getattr(student, "backbone", None)
    if backbone is None or not hasattr(student, "encoder"):
        raise ValueError(f"cached features need a token student; {type(student).__name__} has no separate backbone")
    if any(p.requires_grad for p in backbone.parameters()):
        raise ValueError("cached features need a frozen backbone: pass --backbone (pretrained) "
                         "without --finetune-backbone")
    return backbone


def _digest(*parts: Any) -> str:
    sha = hashlib.sha1()
    for part in parts:
        if isinstance(part, nn.Module):
            for name, tensor in sorted(part.state_dict().items()):
                sha.update(name.encode())
                sha.update(tensor.detach().cpu().contiguous().numpy().tobytes())
        elif isinstance(part, Path):
            sha.update(part.read_bytes())
        else:
            sha.update(repr(part).encode())
    return sha.hexdigest()[:16]


@torch.no_grad()
def compute_crops(compute: Compute, dataset: CocoKeypointDataset, batch_size: int = 32,
                  progress: bool = True, desc: str = "caching") -> dict[str, torch.Tensor]:
    """``compute`` on both flips of every crop of ``dataset``: {name: (N, 2, ...)} float32."""
    store: dict[str, torch.Tensor] = {}
    n, half = len(dataset), max(1, batch_size // 2)  # a batch holds both flips of `half` crops
    for start in tqdm(range(0, n, half), desc=desc, disable=not progress, leave=False):
        indices = range(start, min(n, start + half))
        crops = []
        for i in indices:
            inst = dataset.instances[i]
            image = dataset.load_image(inst.image_id)
            crops += [crop_sample(image, params, inst.keypoints, dataset.input_size)[0]
                      for params in (dataset.base_window(i), dataset.base_window(i, flipped=True))]
        out = compute(torch.stack(crops))  # {name: (2b, ...)}
        for name, value in out.items():
            value = value.detach().float().reshape(len(indices), 2, *value.shape[1:])  # (b, 2, ...)
            if name not in store:
                store[name] = torch.empty((n, 2, *value.shape[2:]), dtype=torch.float32)
            store[name][indices.start:indices.stop] = value
    return store


@contextmanager
def _exclusive(lock: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``lock`` (runs started together compute a cache file once)."""
    lock.parent.mkdir(parents=True, exist_ok=True)
    with open(lock, "a") as handle:
        if fcntl is not None:
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            if fcntl is not None:
                fcntl.flock(handle, fcntl.LOCK_UN)


def cached(folder: Path, kind: str, key: str, fields: tuple[str, ...],
           compute: Callable[[], dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """Each of ``fields`` from ``folder/kind-key-field.pt`` (memory-mapped: processes share its
    pages); the missing ones are computed first (one ``compute`` for all) and saved atomically.
    A second process asking for the same files waits for the first (a lock per kind and key)."""
    paths = {name: Path(folder) / f"{kind}-{key}-{name}.pt" for name in fields}
    with _exclusive(Path(folder) / f"{kind}-{key}.lock"):
        missing = [name for name, path in paths.items() if not path.is_file()]
        if missing:
            computed = compute()
            for name in missing:
                atomic_torch_save(computed[name], paths[name])
            del computed
    return {name: torch.load(path, weights_only=True, mmap=True) for name, path in paths.items()}


class CachedCropDataset(Dataset):
    """The items of a flip-only ``CocoKeypointDataset`` with the image replaced by cached tensors.

    Args:
        base: the training dataset (its epoch, windows and targets are used as they are).
        tensors: {batch key: (N, 2, ...)} e.g. ``features`` and ``teacher.heatmaps``.
    """

    def __init__(self, base: CocoKeypointDataset, tensors: dict[str, torch.Tensor]) -> None:
        check_cacheable(base)
        for key, value in tensors.items():
            if value.shape[:2] != (len(base), 2):
                raise ValueError(f"cached {key!r} has shape {tuple(value.shape)}, expected ({len(base)}, 2, ...)")
        self.base, self.tensors = base, tensors

    def __len__(self) -> int:
        return len(self.base)

    def set_epoch(self, epoch: int) -> None:
        self.base.set_epoch(epoch)

    def __getitem__(self, index: int) -> dict[str, Any]:
        params = self.base.window(index)
        image = self.base.images[self.base.instances[index].image_id]
        item = self.base.labels(index, params, (int(image["height"]), int(image["width"])))
        flip = int(params.flipped)
        item.update({key: value[index, flip].clone() for key, value in self.tensors.items()})
        return item


def cache_training_crops(dataset: CocoKeypointDataset, student: nn.Module, objective: nn.Module,
                         folder: Path, progress: bool = True) -> CachedCropDataset:
    """``dataset`` served from cached backbone features (and teacher outputs, for an objective that
    reads a teacher), computing each cache file the first time it is needed."""
    check_cacheable(dataset)
    backbone = frozen_backbone(student)
    backbone.eval()
    source = (Path(dataset.annotation_file), dataset.input_size, dataset.padding)
    tensors = cached(folder, "backbone", _digest(backbone, *source), ("features",), lambda: compute_crops(
        lambda images: {"features": backbone(images)}, dataset, progress=progress, desc="caching backbone"))
    if isinstance(objective, TeacherObjective):  # one file per output field: recipes share them
        teacher = objective.teacher.eval()
        fields = cached(folder, "teacher", _digest(teacher, *source), objective.teacher_fields, lambda: compute_crops(
            objective.teacher_targets, dataset, progress=progress, desc="caching teacher"))
        tensors = {**tensors, **{TEACHER_PREFIX + name: value for name, value in fields.items()}}
    return CachedCropDataset(dataset, tensors)
