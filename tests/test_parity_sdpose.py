"""Parity with the official SDPose code (golden fixtures in ../shared/fixtures/official, README section 1).

``load_model(checkpoint.pth)`` must reproduce, for every cycle, the heatmaps, keypoint tokens,
visual tokens and last-layer attention, and the StemNet output, in float32 eval mode; both with
attention recording (explicit softmax path) and without (fused attention path).
"""
from __future__ import annotations

import pytest
import torch

from sdpose_core import load_model
from sdpose_core.models.position import sine_position_table

TOL = {"pred": 1e-5, "kpt_token": 1e-4, "vis_token": 2e-4, "attn": 1e-5, "backbone_out": 2e-4}
FIXTURES = {"sdpose_t": dict(cycles=3, depth=6, patch=(4, 3)), "sdpose_s_v2": dict(cycles=2, depth=12, patch=(2, 2))}


@pytest.fixture(scope="module", params=sorted(FIXTURES))
def official(request, official_dir):
    folder = official_dir / request.param
    model = load_model(folder / "checkpoint.pth")
    io = torch.load(folder / "io.pt", map_location="cpu", weights_only=True)
    return request.param, model, io


def _max_err(a: torch.Tensor, b: torch.Tensor) -> float:
    assert a.shape == b.shape, (a.shape, b.shape)
    return (a - b).abs().max().item()


def test_architecture_detected(official):
    name, model, _ = official
    expect = FIXTURES[name]
    cfg = model.config
    assert (cfg.cycle_num, cfg.depth, tuple(cfg.patch_size)) == (expect["cycles"], expect["depth"], expect["patch"])
    assert (cfg.dim, cfg.heads, cfg.mlp_ratio, cfg.pos_embedding) == (192, 8, 3, "sine-full")
    assert not model.training


@pytest.mark.parametrize("with_attention", [True, False], ids=["attention", "plain"])
def test_every_cycle_matches(official, with_attention):
    name, model, io = official
    with torch.no_grad():
        outs = model(io["input"], cycles=model.cycle_num, return_attention=with_attention)
    assert len(outs) == len(io["cycles"]) == FIXTURES[name]["cycles"]
    assert _max_err(outs[0].features, io["backbone_out"]) <= TOL["backbone_out"]
    for i, (out, ref) in enumerate(zip(outs, io["cycles"])):
        assert _max_err(out.heatmaps, ref["pred"]) <= TOL["pred"], f"cycle {i} heatmaps"
        assert _max_err(out.keypoint_tokens, ref["kpt_token"]) <= TOL["kpt_token"], f"cycle {i} kpt tokens"
        assert _max_err(out.visual_tokens, ref["vis_token"]) <= TOL["vis_token"], f"cycle {i} vis tokens"
        if with_attention:
            assert len(out.attention) == model.config.depth
            rows = ref["attn"].shape[2]  # s_v2 keeps only the first 49 query rows
            assert _max_err(out.attention[-1][:, :, :rows], ref["attn"]) <= TOL["attn"], f"cycle {i} attention"
        else:
            assert out.attention is None


def test_default_eval_call_is_first_cycle(official):
    """Official inference uses the first cycle's heatmaps (SDPoseHead.inference_model)."""
    _, model, io = official
    with torch.no_grad():
        outs = model(io["input"][:1])
    assert len(outs) == 1
    assert _max_err(outs[0].heatmaps, io["cycles"][0]["pred"][:1]) <= TOL["pred"]


def test_sine_table_matches_official_formula(official):
    _, model, _ = official
    gh, gw = model.config.grid_size
    assert _max_err(sine_position_table(gh, gw, 192), model.encoder.pos_embedding) <= 1e-6


# ---- other official layouts (DistilPose / TokenPose heads), built by renaming our own weights ----
_TO_OFFICIAL = [("norm1.", "0.fn.norm."), ("attn.to_qkv.", "0.fn.fn.to_qkv."), ("attn.to_out.", "0.fn.fn.to_out.0."),
                ("norm2.", "1.fn.norm."), ("ff.fc1.", "1.fn.fn.net.0."), ("ff.fc2.", "1.fn.fn.net.3.")]


def _official_names(state: dict, transformer: str, head_prefix: str, backbone_prefix: str) -> dict:
    out = {}
    for key, value in state.items():
        if key.startswith("backbone."):
            out[backbone_prefix + key[len("backbone."):]] = value
            continue
        key = key.replace("encoder.transformer.", f"{transformer}.").removeprefix("encoder.").removeprefix("head.")
        for ours, theirs in _TO_OFFICIAL:
            key = key.replace(f".{ours}", f".{theirs}")
        out[head_prefix + key] = value
    return out


# official layouts have StemNet alone (stride 4); the synth zoo adds stride-8/16 stages
STEMNET_ONLY = dict(stem_stages=(), patch_size=(4, 3))


@pytest.mark.parametrize("layout", ["distilpose", "tokenpose-s"])
def test_other_official_layouts(tmp_path, layout):
    """Small models written in the DistilPose / leeyegy TokenPose-S layouts load back exactly.

    heads and (for a regression head) the input size are not stored, so they are passed in.
    """
    from sdpose_core.models import build_model

    torch.manual_seed(0)
    if layout == "distilpose":  # DistilPose-S style: regression head, hidden 64 -> LN + one Linear
        ours = build_model("synth-student", head="regression", head_hidden=64, cycle_num=1, **STEMNET_ONLY).eval()
        state = _official_names(ours.state_dict(), "transformer", "keypoint_head.tokenpose.", "backbone.")
    else:  # leeyegy/TokenPose-S: stem inside `features.*`, scale dim ** -0.5
        ours = build_model("synth-student", attn_scale="dim", cycle_num=1, **STEMNET_ONLY).eval()
        state = _official_names(ours.state_dict(), "transformer", "features.", "features.")
    torch.save({"state_dict": state}, tmp_path / "official.pth")
    loaded = load_model(tmp_path / "official.pth", heads=4, input_size=(128, 96))
    cfg, ref = loaded.config, ours.config
    assert (cfg.head, cfg.attn_scale, cfg.cycle_num) == (ref.head, ref.attn_scale, 1)
    assert (cfg.depth, cfg.dim, tuple(cfg.patch_size), cfg.stem_planes) == (4, 96, (4, 3), 16)
    x = torch.randn(2, 3, 128, 96, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        a, b = ours(x)[0], loaded(x)[0]
    field = "coords" if layout == "distilpose" else "heatmaps"
    assert torch.equal(getattr(a, field), getattr(b, field))
