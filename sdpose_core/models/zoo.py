"""Named model configs: the official SDPose variants at 256x192 and small SynthPose models at 128x96.

Official numbers (SDPose paper, Table 1; configs in MartyrPenink/SDPose):
SDPose-T depth 6, 3 cycles, patch 4x3: 4.4 M params, 1.8 GFLOPs, COCO AP 69.7;
SDPose-S-V1 depth 12, 2 cycles, 4x3: 6.6 M, 2.4 G, 72.3; SDPose-S-V2 depth 12, 2 cycles, 2x2:
6.2 M, 4.7 G, 73.5. All: StemNet, dim 192, 8 heads, mlp ratio 3, sine-full, heatmaps 64x48.

The synth token models share one backbone and token geometry (128x96 input, StemNet + stride-8
and stride-16 stages, an 8x6 grid of 1x1 patches = 48 tokens, D = 96) so that one pretrained
backbone (``synth-backbone``, see backbone.py) serves them all and the DistilPose token losses
can compare student and teacher tokens directly.
"""
from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import torch
from torch import nn

from .backbone import PretrainModel
from .cnn import CNNPoseModel
from .config import ModelConfig
from .flops import count_flops, count_params
from .tokenpose import TokenPoseModel

CHECKPOINT_DIR = Path(__file__).resolve().parents[2] / "data_samples" / "checkpoints"

_SDPOSE = dict(input_size=(256, 192), dim=192, heads=8, mlp_ratio=3, pos_embedding="sine-full")
_SYNTH_TOKENS = dict(input_size=(128, 96), patch_size=(1, 1), dim=96, heads=4, mlp_ratio=3,
                     pos_embedding="sine-full")
# StemNet (32 ch, 2 Bottlenecks of 16 planes) + stride-8 and stride-16 stages: 8x6 = 48 tokens.
_SYNTH_STEM = dict(stem_channels=32, stem_planes=16, stem_blocks=2, stem_stages=(64, 128))

ZOO: dict[str, ModelConfig] = {
    "sdpose-t": ModelConfig(name="sdpose-t", depth=6, cycle_num=3, patch_size=(4, 3), **_SDPOSE),
    "sdpose-s-v1": ModelConfig(name="sdpose-s-v1", depth=12, cycle_num=2, patch_size=(4, 3), **_SDPOSE),
    "sdpose-s-v2": ModelConfig(name="sdpose-s-v2", depth=12, cycle_num=2, patch_size=(2, 2), **_SDPOSE),
    # the synth students' backbone with a SimpleBaseline head: pretrained, then frozen in the students
    "synth-backbone": ModelConfig(name="synth-backbone", model_type="pretrain", input_size=(128, 96),
                                  cnn_widths=(192,), cnn_blocks=2, cnn_deconv=(128, 64, 64), **_SYNTH_STEM),
    "synth-student": ModelConfig(name="synth-student", depth=4, cycle_num=2, **_SYNTH_TOKENS, **_SYNTH_STEM),
    "synth-teacher": ModelConfig(name="synth-teacher", depth=8, cycle_num=1, **_SYNTH_TOKENS, **_SYNTH_STEM),
    "synth-cnn-teacher": ModelConfig(name="synth-cnn-teacher", model_type="cnn", input_size=(128, 96),
                                     stem_channels=32, cnn_widths=(64, 128, 192), cnn_blocks=2,
                                     cnn_deconv=(128, 64, 64)),
    "synth-regression": ModelConfig(name="synth-regression", head="regression", depth=4, cycle_num=1,
                                    **_SYNTH_TOKENS, **_SYNTH_STEM),
    "synth-simcc": ModelConfig(name="synth-simcc", head="simcc", depth=4, cycle_num=1,
                               **_SYNTH_TOKENS, **_SYNTH_STEM),
    # DWPose teacher: the synth-teacher body with a SimCC head (same token grid as its students).
    "synth-simcc-teacher": ModelConfig(name="synth-simcc-teacher", head="simcc", depth=8, cycle_num=1,
                                       **_SYNTH_TOKENS, **_SYNTH_STEM),
}

# COCO val AP of the official models (SDPose paper), for the docs / explorer.
PAPER = {
    "sdpose-t": dict(params_m=4.4, gflops=1.8, coco_ap=69.7),
    "sdpose-s-v1": dict(params_m=6.6, gflops=2.4, coco_ap=72.3),
    "sdpose-s-v2": dict(params_m=6.2, gflops=4.7, coco_ap=73.5),
}


def model_names() -> list[str]:
    return list(ZOO)


def get_config(name: str, **overrides) -> ModelConfig:
    """A copy of the named zoo config, with field overrides (e.g. ``cycle_num=1``)."""
    if name not in ZOO:
        raise KeyError(f"unknown model {name!r}; zoo models: {', '.join(ZOO)}")
    return replace(ZOO[name], **overrides)


def build_model(config: ModelConfig | str, **overrides) -> nn.Module:
    """A randomly initialised model for a config or a zoo name."""
    cfg = get_config(config, **overrides) if isinstance(config, str) else replace(config, **overrides)
    if cfg.model_type == "cnn":
        return CNNPoseModel(cfg)
    if cfg.model_type == "pretrain":
        return PretrainModel(cfg)
    return TokenPoseModel(cfg)


def bundled_checkpoint(name: str) -> Path | None:
    """``data_samples/checkpoints/<name>.pt`` if it exists."""
    path = CHECKPOINT_DIR / f"{name}.pt"
    return path if path.is_file() else None


def bundled_manifest(folder: Path | None = None) -> list[dict]:
    """The rows of ``folder/manifest.json`` (default ``data_samples/checkpoints``; written by
    benchmarks/bundle_checkpoints.py); [] when it is missing or unreadable (never an error)."""
    try:
        rows = json.loads(((folder or CHECKPOINT_DIR) / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    return [r for r in rows if isinstance(r, dict)] if isinstance(rows, list) else []


def describe_model(cfg: ModelConfig, manifest: list[dict] | None = None) -> dict:
    """Params and GFLOPs of one config, counted on the meta device (no arithmetic is done).

    ``gflops_one_pass`` / ``gflops_all_cycles`` use the mmcv convention the paper's numbers were
    made with; ``gflops_linear_conv`` is the Linear + Conv-only count of one pass.
    """
    with torch.device("meta"):
        model = build_model(cfg)
    one = count_flops(model, cycles=1, convention="mmcv")
    every = count_flops(model, cycles=cfg.cycle_num, convention="mmcv")
    lin = count_flops(model, cycles=1, convention="linear_conv")
    ckpt = bundled_checkpoint(cfg.name)
    rows = bundled_manifest() if manifest is None else manifest
    bundled = next((row for row in rows if row["name"] == cfg.name), {})
    history = bundled.get("history")
    return {
        "name": cfg.name,
        "params_m": round(count_params(model) / 1e6, 4),
        "gflops_one_pass": round(one / 1e9, 4),
        "gflops_all_cycles": round(every / 1e9, 4),
        "gflops_linear_conv": round(lin / 1e9, 4),
        "cycles": cfg.cycle_num,
        "input_size": list(cfg.input_size),
        "model_type": cfg.model_type,
        "head": cfg.head,
        "checkpoint": str(ckpt) if ckpt else None,
        "recipe": bundled.get("recipe"),
        "snapshot_history": str(CHECKPOINT_DIR.parent / history) if history else None,
        "val_AP": bundled.get("AP"),
    }


def describe_models() -> list[dict]:
    """One row per zoo model: name, params_m, gflops_one_pass, gflops_all_cycles, cycles,
    input_size (H, W), checkpoint (bundled path or None), plus gflops_linear_conv, model_type, head,
    and for bundled models the recipe that trained them, their snapshot history and SynthPose val AP."""
    manifest = bundled_manifest()
    return [describe_model(cfg, manifest) for cfg in ZOO.values()]
