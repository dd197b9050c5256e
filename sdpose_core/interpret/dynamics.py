"""Token dynamics over training: what happens inside a tokenized pose model around its AP jump.

A training run's ``history/epoch_*.pt`` snapshots are each run on the same fixed probe crops. Per
snapshot, cycle and layer this module measures

- the **attention entropy** of each keypoint token: its attention row over the patches (keypoint
  columns left out, renormalised to sum 1), ``H = -sum p log p`` in nats, per head, averaged over
  heads and crops. ``log N`` (N patches) is a uniform look, 0 a single patch;
- the **keypoint-token similarity matrix**: cosine similarity between the 17 keypoint tokens after
  that layer, averaged over crops (which keypoints the model still confuses, e.g. left/right);
- the **distance to the teacher** (token-distilling recipes, a teacher given): MSE per keypoint
  token between the student's and the teacher's final keypoint tokens (the DistilPose token term)
  and 1 - cosine; for a multi-cycle model also the MSE between consecutive cycles (SDPose's term);

next to the run's AP per epoch. Everything is data (numpy); ``sdpose_core.viz.dynamics`` draws it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from sdpose_core.data.coco_meta import FLIP_PAIRS, NUM_KEYPOINTS
from sdpose_core.data.topdown import CocoKeypointDataset, load_image_crop
from sdpose_core.data.transforms import denormalize
from sdpose_core.io.checkpoint import model_from_checkpoint, read_checkpoint
from sdpose_core.train.recipes import TOKEN_DISTILLING_RECIPES
from sdpose_core.train.run_dir import RunDir

SAMPLES_DIR = Path(__file__).resolve().parents[2] / "data_samples" / "synthpose_val"


# ----------------------------------------------------------------------------- pure measures

def attention_entropy(attention: torch.Tensor, num_keypoints: int = NUM_KEYPOINTS) -> torch.Tensor:
    """Entropy (nats) of each keypoint token's attention over the patches: (..., T, T) -> (..., K),
    e.g. one layer's (B, heads, T, T) -> (B, heads, K).

    The row of keypoint token k is cut to its N patch columns and renormalised, so a uniform row
    gives ``log N`` and a one-hot row 0.
    """
    rows = attention[..., :num_keypoints, num_keypoints:].double()  # (..., K, N)
    p = rows / rows.sum(-1, keepdim=True).clamp_min(1e-30)
    return -(p * torch.log(p.clamp_min(1e-30))).sum(-1)  # (..., K)


def token_similarity(tokens: torch.Tensor) -> torch.Tensor:
    """Cosine similarity between the keypoint tokens, averaged over the batch: (B, K, D) -> (K, K)."""
    unit = F.normalize(tokens.double(), dim=-1)  # (B, K, D)
    return (unit @ unit.transpose(1, 2)).mean(0)  # (K, K)


def token_distance(student: torch.Tensor, teacher: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per keypoint token: MSE over D and batch, and 1 - cosine averaged over batch; (B, K, D) x2 -> (K,), (K,)."""
    if student.shape != teacher.shape:
        raise ValueError(f"student tokens {tuple(student.shape)} and teacher tokens {tuple(teacher.shape)} differ")
    s, t = student.double(), teacher.double()
    mse = ((s - t) ** 2).mean(dim=(0, 2))  # (K,)
    cos = (1.0 - F.cosine_similarity(s, t, dim=-1)).mean(0)  # (K,)
    return mse, cos


def left_right_similarity(similarity: np.ndarray, pairs: Sequence[tuple[int, int]] = FLIP_PAIRS
                          ) -> tuple[np.ndarray, np.ndarray]:
    """Mean similarity of the left/right pairs and of every other off-diagonal pair: (..., K, K) -> (...), (...)."""
    sim = np.asarray(similarity, dtype=np.float64)
    k = sim.shape[-1]
    mirror = np.zeros((k, k), dtype=bool)
    for a, b in pairs:
        mirror[a, b] = mirror[b, a] = True
    others = ~mirror & ~np.eye(k, dtype=bool)
    return sim[..., mirror].mean(-1), sim[..., others].mean(-1)


def most_similar_pairs(similarity: np.ndarray, top: int = 3) -> list[tuple[int, int, float]]:
    """The ``top`` most similar distinct keypoint pairs (a < b) of one (K, K) matrix, most similar first."""
    sim = np.asarray(similarity, dtype=np.float64)
    a, b = np.triu_indices(sim.shape[-1], k=1)
    order = np.argsort(-sim[a, b], kind="stable")[:top]
    return [(int(a[i]), int(b[i]), float(sim[a[i], b[i]])) for i in order]


def ap_jump(epochs: np.ndarray, ap: np.ndarray) -> int:
    """The epoch that ends the largest one-epoch AP rise (same numbering as ``epochs``)."""
    if len(ap) < 2:
        raise ValueError("need the AP of at least two epochs to find a jump")
    return int(np.asarray(epochs)[int(np.argmax(np.diff(ap))) + 1])


# ----------------------------------------------------------------------------- history + probes

@dataclass
class Snapshot:
    """One saved epoch of a run: ``label`` ('epoch 3', 'stage 2 epoch 1'), 1-based ``epoch``, the model."""

    label: str
    epoch: int
    path: Path
    model: nn.Module
    recipe: str | None


def load_snapshot(path: str | Path) -> Snapshot:
    """One ``history/epoch_*.pt`` file as an eval-mode model with its label and 1-based epoch."""
    path = Path(path)
    obj = read_checkpoint(path)
    epoch = int(obj.get("epoch", int(path.stem.split("_")[-1]))) + 1
    model = model_from_checkpoint(obj, str(path)).float().eval()
    return Snapshot(str(obj.get("label") or f"epoch {epoch}"), epoch, path, model, obj.get("recipe"))


def load_history(root: str | Path) -> list[Snapshot]:
    """Every ``history/epoch_*.pt`` of a run folder, in epoch order, as eval-mode models."""
    paths = sorted(Path(root).glob("history/epoch_*.pt"))
    if not paths:
        raise ValueError(f"{root} is not a training run with snapshots (no history/epoch_*.pt inside)")
    return [load_snapshot(path) for path in paths]


def ap_curve(root: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """(epochs 1-based (E,), AP (E,)) from a run's metrics.jsonl; the last record of an epoch wins."""
    per_epoch: dict[int, float] = {}
    for r in RunDir(root).read_metrics() if (Path(root) / "history").is_dir() else []:
        if isinstance(r.get("AP"), (int, float)) and "epoch" in r:
            per_epoch[int(r["epoch"]) + 1] = float(r["AP"])
    epochs = np.array(sorted(per_epoch), dtype=np.int64)
    return epochs, np.array([per_epoch[e] for e in epochs], dtype=np.float64)


def probe_crops(input_size: tuple[int, int], folder: str | Path = SAMPLES_DIR, count: int = 16
                ) -> tuple[torch.Tensor, np.ndarray]:
    """The first ``count`` labelled persons of a COCO folder, cropped at their boxes, no augmentation.

    Returns the network inputs (B, 3, H, W) and the same crops as (B, H, W, 3) uint8 for drawing.
    """
    data = CocoKeypointDataset(folder, input_size=tuple(input_size))
    tensors = []
    for inst in data.instances[:count]:
        tensor, _ = load_image_crop(data.load_image(inst.image_id), inst.bbox, input_size=tuple(input_size))
        tensors.append(tensor)
    if not tensors:
        raise ValueError(f"{folder} holds no labelled persons")
    batch = torch.stack(tensors)  # (B, 3, H, W)
    return batch, denormalize(batch)


def teacher_for(recipe: str | None) -> str | None:
    """The bundled teacher a token-distilling recipe's bundled run distilled from (benchmarks/reproduce.py:
    ``distilpose`` and ``distilpose-official`` read ``synth-teacher``); None for other recipes."""
    return "synth-teacher" if recipe in TOKEN_DISTILLING_RECIPES else None


# ----------------------------------------------------------------------------- the measurement

@dataclass
class TokenDynamics:
    """Token measures of every snapshot of a run (S snapshots, C cycles, L layers, K keypoints).

    Attributes:
        run: the run folder. recipe: the snapshots' recipe. labels: (S,) snapshot labels.
        epochs: (S,) 1-based epoch of each snapshot (the x axis, shared with ``ap_epochs``).
        entropy: (S, C, L, K) attention entropy (nats) of each keypoint token over the patches.
        max_entropy: log N, the entropy of a uniform look over the N patches.
        similarity: (S, C, L, K, K) cosine similarity of the keypoint tokens after each layer.
        teacher_mse / teacher_cosine: (S, C, K) distance of each cycle's final keypoint tokens to the
            teacher's (MSE, 1 - cosine); None without a teacher. teacher: the teacher's name.
        cycle_gap: (S, C - 1, K) MSE between consecutive cycles' final keypoint tokens; None for C = 1.
        maps: (S, C, L, K, gh, gw) head-mean attention of each keypoint token over the patches of
            probe crop 0 (raw softmax weights). crop: (H, W, 3) that crop.
        ap_epochs, ap: (E,) every epoch's AP from metrics.jsonl (may be empty).
        num_probes: B, the crops every number is averaged over.
    """

    run: str
    recipe: str | None
    labels: list[str]
    epochs: np.ndarray
    entropy: np.ndarray
    max_entropy: float
    similarity: np.ndarray
    teacher_mse: np.ndarray | None
    teacher_cosine: np.ndarray | None
    teacher: str | None
    cycle_gap: np.ndarray | None
    maps: np.ndarray
    crop: np.ndarray
    ap_epochs: np.ndarray
    ap: np.ndarray
    num_probes: int

    def jump_epoch(self) -> int | None:
        """The epoch ending the largest one-epoch AP rise (None with fewer than two AP values)."""
        return ap_jump(self.ap_epochs, self.ap) if len(self.ap) >= 2 else None

    def sides(self) -> tuple[int, int]:
        """Indices of the last snapshot before the jump and the first one at or after it."""
        jump = self.jump_epoch()
        if jump is None:
            raise ValueError(f"{self.run}: no AP curve to find a jump in")
        before = [i for i, e in enumerate(self.epochs) if e < jump]
        after = [i for i, e in enumerate(self.epochs) if e >= jump]
        if not before or not after:
            raise ValueError(f"{self.run}: no snapshot on each side of the jump at epoch {jump}")
        return before[-1], after[0]

    def snapshot_ap(self) -> np.ndarray:
        """(S,) AP at each snapshot's epoch (NaN where metrics.jsonl has none)."""
        lookup = dict(zip(self.ap_epochs.tolist(), self.ap.tolist()))
        return np.array([lookup.get(int(e), np.nan) for e in self.epochs], dtype=np.float64)

    def mean_entropy(self) -> np.ndarray:
        """(S, C, L) attention entropy averaged over the keypoint tokens."""
        return self.entropy.mean(-1)

    def left_right(self) -> tuple[np.ndarray, np.ndarray]:
        """(S, C, L) mean similarity of the left/right token pairs, and of all other pairs."""
        return left_right_similarity(self.similarity)


@torch.inference_mode()
def _run_layers(model: nn.Module, images: torch.Tensor) -> tuple[list, torch.Tensor]:
    """All cycles with attention, plus the keypoint tokens after every layer: (C, L, B, K, D)."""
    if getattr(model.config, "model_type", None) != "tokenpose":
        raise ValueError(f"token dynamics need a token model, got {model.config.model_type!r}")
    k = model.config.num_keypoints
    layers = model.encoder.transformer.layers
    seen: list[torch.Tensor] = []
    hooks = [layer.register_forward_hook(lambda _m, _i, out: seen.append(out[0][:, :k])) for layer in layers]
    try:
        outs = model(images, cycles=model.config.cycle_num, return_attention=True)
    finally:
        for hook in hooks:
            hook.remove()
    tokens = torch.stack(seen).reshape(len(outs), len(layers), *seen[0].shape)  # (C, L, B, K, D)
    return outs, tokens


def _measure(model: nn.Module, images: torch.Tensor, teacher_tokens: torch.Tensor | None) -> dict:
    """One snapshot's measures (see TokenDynamics), as numpy arrays without the snapshot axis."""
    outs, tokens = _run_layers(model, images)
    k, (gh, gw) = model.config.num_keypoints, model.config.grid_size
    att = torch.stack([torch.stack(o.attention) for o in outs])  # (C, L, B, h, T, T)
    c, n_layers = att.shape[:2]
    ent = attention_entropy(att, k).mean(dim=(2, 3))  # (C, L, B, h, K) -> (C, L, K)
    sim = torch.stack([token_similarity(t) for t in tokens.flatten(0, 1)]).reshape(c, n_layers, k, k)
    maps = att[:, :, 0].float().mean(2)[:, :, :k, k:].reshape(c, n_layers, k, gh, gw)  # probe crop 0
    out = {"entropy": ent.numpy(), "similarity": sim.numpy(), "maps": maps.numpy(), "gap": None,
           "mse": None, "cos": None}
    finals = [o.keypoint_tokens for o in outs]  # C x (B, K, D)
    if len(finals) > 1:
        out["gap"] = np.stack([token_distance(a, b)[0].numpy() for a, b in zip(finals[:-1], finals[1:])])
    if teacher_tokens is not None:
        pairs = [token_distance(f, teacher_tokens) for f in finals]
        out["mse"] = np.stack([m.numpy() for m, _ in pairs])  # (C, K)
        out["cos"] = np.stack([c_.numpy() for _, c_ in pairs])
    return out


def token_dynamics(root: str | Path, teacher: nn.Module | None = None, teacher_name: str | None = None,
                   images: torch.Tensor | None = None, crops: np.ndarray | None = None,
                   count: int = 16) -> TokenDynamics:
    """Measure every snapshot of a run on the same probe crops.

    Args:
        root: a run folder with ``history/epoch_*.pt`` (and ``metrics.jsonl`` for the AP curve).
        teacher: a token model whose final keypoint tokens the student's are compared to (same K, D).
        images: (B, 3, H, W) probe inputs; default: ``count`` crops of the bundled SynthPose samples.
        crops: (B, H, W, 3) uint8 drawings of ``images`` (only crop 0 is kept).
    """
    snaps = load_history(root)
    if images is None:
        images, crops = probe_crops(snaps[0].model.config.input_size, count=count)
    teacher_tokens = None
    if teacher is not None:
        with torch.inference_mode():
            teacher_tokens = teacher.eval()(images)[0].keypoint_tokens  # (B, K, D)
        if teacher_tokens is None:
            raise ValueError("the teacher has no keypoint tokens (not a token model)")
    rows = [_measure(s.model, images, teacher_tokens) for s in snaps]
    stack = lambda key: None if rows[0][key] is None else np.stack([r[key] for r in rows])  # noqa: E731
    ap_epochs, ap = ap_curve(root)
    gh, gw = snaps[0].model.config.grid_size
    return TokenDynamics(
        run=str(root), recipe=snaps[-1].recipe, labels=[s.label for s in snaps],
        epochs=np.array([s.epoch for s in snaps], dtype=np.int64), entropy=stack("entropy"),
        max_entropy=math.log(gh * gw), similarity=stack("similarity"), teacher_mse=stack("mse"),
        teacher_cosine=stack("cos"), teacher=teacher_name if teacher is not None else None,
        cycle_gap=stack("gap"), maps=stack("maps"),
        crop=np.zeros((0, 0, 3), np.uint8) if crops is None else np.asarray(crops[0]),
        ap_epochs=ap_epochs, ap=ap, num_probes=int(images.shape[0]))
