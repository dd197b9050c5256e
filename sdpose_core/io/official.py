"""Official checkpoint layouts -> our ModelConfig + state dict.

Supported layouts (StemNet backbones only):

- mmpose 0.x ``TopDown`` (SDPose, DistilPose, TokenPose heads of MartyrPenink/SDPose and
  yshMars/DistilPose): ``backbone.*`` + ``keypoint_head.tokenpose.*``. SDPose names its shared
  transformer ``transformer_layer1``; TokenPose / DistilPose heads name it ``transformer``.
  These all use scale_with_head=True, i.e. scale (dim // heads) ** -0.5.
- leeyegy/TokenPose ``TokenPose_S`` (stem inside ``features.*``, ``features.transformer.*``):
  its Transformer is built without scale_with_head, i.e. scale dim ** -0.5.

What the state dict does not store and how it is chosen:

- ``heads``: default 8 (every official SDPose / TokenPose-S / DistilPose-S config); pass ``heads=``.
- ``cycle_num``: SDPose layouts take the cycle count of the zoo model with the same depth / patch /
  size (SDPose-T 3, S-V1 2, S-V2 2), else 2 (the default of the official ``SDPose`` class);
  TokenPose / DistilPose layouts get 1. Pass ``cycle_num=`` to override.
- ``pos_embedding``: a (1, N, D) table equal to the sine formula -> ``sine-full`` (all official
  configs); a (1, K + N, D) table -> ``learnable``. Pass ``pos_embedding="sine"`` to override.
- patch size: from ``patch_to_embedding`` (patch area) and the number of patches; when several
  (ph, pw) fit, the one whose sine table equals the stored one wins.
- input size: 4 x the heatmap size, read from the head (heatmap 64 x 48 -> 256 x 192), assuming a
  4:3 heatmap unless ``input_size=`` is given; regression heads default to 256 x 192.
"""
from __future__ import annotations

import math
import re
from collections import OrderedDict

import torch

from sdpose_core.models.config import ModelConfig
from sdpose_core.models.position import sine_position_table

MMPOSE_HEAD = "keypoint_head.tokenpose."
_STEM_KEYS = ("conv1.", "bn1.", "conv2.", "bn2.", "layer1.")
_LAYER = re.compile(r"^(?:transformer|transformer_layer1)\.layers\.(\d+)\.([01])\.fn\.(.+)$")
_LAYER_MAP = {
    ("0", "norm"): "norm1", ("0", "fn.to_qkv"): "attn.to_qkv", ("0", "fn.to_out.0"): "attn.to_out",
    ("1", "norm"): "norm2", ("1", "fn.net.0"): "ff.fc1", ("1", "fn.net.3"): "ff.fc2",
}
_TOP = {"keypoint_token": "encoder.keypoint_token", "pos_embedding": "encoder.pos_embedding",
        "patch_to_embedding.weight": "encoder.patch_to_embedding.weight",
        "patch_to_embedding.bias": "encoder.patch_to_embedding.bias"}


class OfficialLayoutError(ValueError):
    """The state dict is not an official layout we can map (message says why)."""


def is_official(state: dict) -> bool:
    keys = list(state)
    return any(k.startswith(MMPOSE_HEAD) for k in keys) or any(k.startswith("features.patch_to_embedding") for k in keys)


def split_layout(state: dict) -> tuple[str, dict, dict]:
    """Return (layout, backbone state, tokenpose state) with the prefixes removed."""
    if any(k.startswith(MMPOSE_HEAD) for k in state):
        backbone = {k[len("backbone."):]: v for k, v in state.items() if k.startswith("backbone.")}
        head = {k[len(MMPOSE_HEAD):]: v for k, v in state.items() if k.startswith(MMPOSE_HEAD)}
        other = [k for k in state if not k.startswith(("backbone.", MMPOSE_HEAD))]
        layout = "sdpose" if any(k.startswith("transformer_layer1.") for k in head) else "mmpose-tokenpose"
    elif any(k.startswith("features.patch_to_embedding") for k in state):
        feats = {k[len("features."):]: v for k, v in state.items() if k.startswith("features.")}
        backbone = {k: v for k, v in feats.items() if k.startswith(_STEM_KEYS)}
        head = {k: v for k, v in feats.items() if not k.startswith(_STEM_KEYS)}
        other = [k for k in state if not k.startswith("features.")]
        layout = "tokenpose-s"
    else:
        raise OfficialLayoutError("no 'keypoint_head.tokenpose.*' or 'features.patch_to_embedding' keys: "
                                  "not an SDPose / TokenPose / DistilPose checkpoint")
    if "conv1.weight" not in backbone or "layer1.0.conv1.weight" not in backbone:
        hint = " (it looks like HRNet)" if any(k.startswith(("stage", "transition")) for k in backbone) else ""
        raise OfficialLayoutError(f"only StemNet backbones are supported; backbone keys lack conv1/layer1{hint}")
    if other:
        raise OfficialLayoutError(f"unexpected keys outside backbone/head: {other[:10]}")
    return layout, backbone, head


def map_state_dict(backbone: dict, head: dict) -> OrderedDict:
    """Official names -> our module names; unknown keys pass through under 'unmapped.' so that
    the strict loader reports them as unexpected."""
    out: OrderedDict = OrderedDict((f"backbone.{k}", v) for k, v in backbone.items())
    for k, v in head.items():
        out[_map_head_key(k)] = v
    return out


def _map_head_key(key: str) -> str:
    if key in _TOP:
        return _TOP[key]
    m = _LAYER.match(key)
    if m:
        idx, sub, rest = m.groups()
        for (s, src), dst in _LAYER_MAP.items():
            if s == sub and rest.startswith(src + "."):
                return f"encoder.transformer.layers.{idx}.{dst}.{rest[len(src) + 1:]}"
    if key.startswith("mlp_head."):
        return f"head.{key}"
    return f"unmapped.{key}"


def infer_config(layout: str, backbone: dict, head: dict, *, heads: int = 8, cycle_num: int | None = None,
                 input_size: tuple[int, int] | None = None, pos_embedding: str | None = None,
                 zoo: dict[str, ModelConfig] | None = None) -> ModelConfig:
    """Rebuild the architecture from key names and tensor shapes (see the module docstring)."""
    stem_channels = backbone["conv1.weight"].shape[0]
    planes = backbone["layer1.0.conv1.weight"].shape[0]
    blocks = len({k.split(".")[1] for k in backbone if k.startswith("layer1.")})
    try:
        emb = head["patch_to_embedding.weight"]
        pos = head["pos_embedding"]
    except KeyError as err:
        raise OfficialLayoutError(f"the head has no {err.args[0]!r}") from None
    dim, patch_dim = emb.shape
    depth = 1 + max((int(m.group(1)) for k in head if (m := _LAYER.match(k))), default=-1)
    if depth == 0:
        raise OfficialLayoutError("no transformer layers found in the head")
    fc1 = head.get(f"{'transformer_layer1' if layout == 'sdpose' else 'transformer'}.layers.0.1.fn.fn.net.0.weight")
    mlp_ratio = fc1.shape[0] // dim if fc1 is not None else 3
    head_kw, input_size = _infer_head(head, dim, input_size)
    K = head["keypoint_token"].shape[1]
    learnable = _is_learnable(pos, K, input_size, patch_dim // (4 * planes))
    n_patches = pos.shape[1] - (K if learnable else 0)
    patch = _infer_patch(pos, learnable, n_patches, patch_dim // (4 * planes), input_size, dim)
    cfg = dict(name=f"official-{layout}", input_size=input_size, num_keypoints=K, stem_channels=stem_channels,
               stem_planes=planes, stem_blocks=blocks, patch_size=patch, dim=dim, depth=depth, heads=heads,
               mlp_ratio=mlp_ratio, attn_scale="dim" if layout == "tokenpose-s" else "head",
               pos_embedding=pos_embedding or ("learnable" if learnable else "sine-full"), **head_kw)
    match = _zoo_match(layout, cfg, zoo or {})
    if match is not None:
        cfg["name"] = f"{match.name}-official"
    default_cycles = 1 if layout != "sdpose" else (match.cycle_num if match is not None else 2)
    cfg["cycle_num"] = cycle_num if cycle_num is not None else default_cycles
    return ModelConfig(**cfg)


def _infer_head(head: dict, dim: int, input_size: tuple[int, int] | None) -> tuple[dict, tuple[int, int]]:
    linears = sorted(int(k.split(".")[1]) for k in head if k.startswith("mlp_head.") and k.endswith(".weight")
                     and head[k].dim() == 2)
    if not linears:
        raise OfficialLayoutError("no mlp_head Linear layers found")
    out = head[f"mlp_head.{linears[-1]}.weight"].shape[0]
    multi = len(linears) == 2
    hidden = head[f"mlp_head.{linears[0]}.weight"].shape[0] if multi else None
    kw = dict(apply_multi=multi, head_hidden=hidden)
    if out == 5:
        return dict(head="regression", **kw), tuple(input_size or (256, 192))
    if out < 16:
        raise OfficialLayoutError(f"mlp_head outputs {out} values per keypoint: only heatmap heads and "
                                  "DistilPose out_mode='all' (5 values) are supported")
    if input_size is not None:
        hm = (input_size[0] // 4, input_size[1] // 4)
    else:
        hh = round(math.sqrt(out * 4 / 3))
        hm = (hh, out // hh)
    if hm[0] * hm[1] != out:
        raise OfficialLayoutError(f"mlp_head outputs {out} values: cannot infer the heatmap size; pass input_size=")
    return dict(head="heatmap", heatmap_size=hm, **kw), (hm[0] * 4, hm[1] * 4)


def _is_learnable(pos: torch.Tensor, K: int, input_size: tuple[int, int], area: int) -> bool:
    """A (1, K + N, D) table (learnable) rather than (1, N, D) (sine)."""
    fh, fw = input_size[0] // 4, input_size[1] // 4
    fits = lambda n: any(fh % a == 0 and fw % (area // a) == 0 and (fh // a) * (fw // (area // a)) == n
                         for a in range(1, area + 1) if area % a == 0)
    return not fits(pos.shape[1]) and fits(pos.shape[1] - K)


def _infer_patch(pos: torch.Tensor, learnable: bool, n: int, area: int, input_size, dim: int) -> tuple[int, int]:
    fh, fw = input_size[0] // 4, input_size[1] // 4
    cands = [(a, area // a) for a in range(1, area + 1) if area % a == 0
             and fh % a == 0 and fw % (area // a) == 0 and (fh // a) * (fw // (area // a)) == n]
    if not cands:
        raise OfficialLayoutError(f"no patch size of area {area} gives {n} patches on a {fh}x{fw} feature map")
    if not learnable:
        ref = pos.detach().float().cpu()
        for ph, pw in cands:
            if torch.allclose(sine_position_table(fh // ph, fw // pw, dim), ref, atol=1e-4):
                return ph, pw
        raise OfficialLayoutError("pos_embedding is neither the fixed sine table nor a learnable (K + N) table")
    # learnable: prefer the candidate whose grid is closest to the feature map's aspect
    return min(cands, key=lambda c: abs(math.log((c[0] / c[1]) / (fh / fw))))


def _zoo_match(layout: str, cfg: dict, zoo: dict[str, ModelConfig]) -> ModelConfig | None:
    """The official SDPose zoo config with the same depth, patch, input size and width, if any."""
    if layout != "sdpose":
        return None
    key = (cfg["depth"], tuple(cfg["patch_size"]), tuple(cfg["input_size"]), cfg["dim"], cfg["head"])
    for z in zoo.values():
        if z.name.startswith("sdpose") and (z.depth, tuple(z.patch_size), tuple(z.input_size), z.dim, z.head) == key:
            return z
    return None
