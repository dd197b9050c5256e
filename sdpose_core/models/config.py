"""One dataclass describes every model in the zoo (nanoGPT style: config in, module out)."""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

MODEL_TYPES = ("tokenpose", "cnn", "pretrain")
HEAD_TYPES = ("heatmap", "regression", "simcc")
POS_TYPES = ("sine-full", "sine", "learnable")
ATTN_SCALES = ("head", "dim")


@dataclass
class ModelConfig:
    """Architecture of a pose model.

    Defaults are the official SDPose-T numbers (MartyrPenink/SDPose,
    ``configs/.../sdpose_t_coco_256x192.py``).

    Args:
        name: zoo name (informational).
        model_type: ``"tokenpose"`` (StemNet -> tokens -> (Multi-Cycled) transformer -> head),
            ``"cnn"`` (plain CNN heatmap model, SimpleBaseline-like) or ``"pretrain"`` (a token
            model's backbone + a deconv head: how the students' backbone is pretrained).
        head: ``"heatmap"`` (TokenPose/SDPose MLP head), ``"regression"`` (DistilPose) or
            ``"simcc"`` (RTMPose-style 1D x/y classification on keypoint tokens).
        input_size: (H, W) of the input crop; official 256x192.
        num_keypoints: K; COCO 17.
        stem_channels: channels of the two stride-2 stem convs; StemNet 64.
        stem_planes: Bottleneck planes of layer1 (out channels = 4 * planes); StemNet 64.
        stem_blocks: Bottlenecks in layer1; StemNet 4.
        stem_stages: widths of extra stride-2 stages (2 BasicBlocks each) after StemNet; each halves
            the token grid. ``()`` is the official stride-4 StemNet; the synth students use
            ``(64, 128)``: tokens from a stride-16 map, like TokenPose-B/DistilPose reading a
            pretrained CNN's later stages.
        patch_size: (ph, pw) on the backbone feature map; SDPose-T 4x3, S-V2 2x2.
        dim: token width D; SDPose 192.
        depth: transformer layers; SDPose-T 6, S 12.
        heads: attention heads; SDPose 8.
        mlp_ratio: FeedForward hidden = dim * mlp_ratio; SDPose 3.
        pos_embedding: ``"sine-full"`` (2D sine, re-added before every layer > 0: SDPose/TokenPose),
            ``"sine"`` (added once) or ``"learnable"`` (TokenPose option, on all K+N tokens).
        attn_scale: ``"head"`` -> (dim // heads) ** -0.5 (scale_with_head=True, SDPose, TokenPose
            mmpose heads); ``"dim"`` -> dim ** -0.5 (leeyegy/TokenPose ``TokenPose_S_base``).
        cycle_num: Multi-Cycled Transformer cycles (shared weights); SDPose-T 3, S 2; 1 = TokenPose.
        heatmap_size: (Hh, Wh) of heatmaps; None -> input / 4 (official 64x48).
        head_hidden: hidden width of the MLP head; None -> Hh*Wh // 8 for heatmaps (official 384)
            and 384 for regression (DistilPose ``hidden_dim`` default).
        apply_multi: official switch: the 2-Linear head is used when dim <= head_hidden / 2.
        simcc_split_ratio: SimCC bins per input pixel; RTMPose 2.0.
        dropout: dropout inside the transformer (official 0).
        cnn_widths: channels of the CNN teacher's downsampling stages (stride 8, 16, ...); for a
            ``"pretrain"`` model, the stages added after the backbone.
        cnn_blocks: BasicBlocks per CNN stage.
        cnn_deconv: channels of the CNN teacher's 4x4 stride-2 deconvs (SimpleBaseline uses 256 x 3).
    """

    name: str = "custom"
    model_type: str = "tokenpose"
    head: str = "heatmap"
    input_size: tuple[int, int] = (256, 192)
    num_keypoints: int = 17
    stem_channels: int = 64
    stem_planes: int = 64
    stem_blocks: int = 4
    stem_stages: tuple[int, ...] = ()
    patch_size: tuple[int, int] = (4, 3)
    dim: int = 192
    depth: int = 6
    heads: int = 8
    mlp_ratio: int = 3
    pos_embedding: str = "sine-full"
    attn_scale: str = "head"
    cycle_num: int = 1
    heatmap_size: tuple[int, int] | None = None
    head_hidden: int | None = None
    apply_multi: bool = True
    simcc_split_ratio: float = 2.0
    dropout: float = 0.0
    cnn_widths: tuple[int, ...] = (64, 128)
    cnn_blocks: int = 1
    cnn_deconv: tuple[int, ...] = (128, 64)

    def __post_init__(self) -> None:
        self.input_size = tuple(int(v) for v in self.input_size)
        self.patch_size = tuple(int(v) for v in self.patch_size)
        if self.heatmap_size is not None:
            self.heatmap_size = tuple(int(v) for v in self.heatmap_size)
        self.cnn_widths = tuple(int(v) for v in self.cnn_widths)
        self.stem_stages = tuple(int(v) for v in self.stem_stages)
        self.cnn_deconv = tuple(int(v) for v in self.cnn_deconv)
        self.validate()

    # ---- derived geometry -------------------------------------------------------------------
    @property
    def feature_stride(self) -> int:
        """Stride of the backbone feature map: 4 (StemNet), doubled by each of ``stem_stages``."""
        return 4 * 2 ** len(self.stem_stages)

    @property
    def feature_size(self) -> tuple[int, int]:
        """(h, w) of the backbone feature map the tokens are cut from."""
        return self.input_size[0] // self.feature_stride, self.input_size[1] // self.feature_stride

    @property
    def feature_channels(self) -> int:
        return self.stem_stages[-1] if self.stem_stages else self.stem_planes * 4

    @property
    def grid_size(self) -> tuple[int, int]:
        """(gh, gw) of the patch grid."""
        fh, fw = self.feature_size
        return fh // self.patch_size[0], fw // self.patch_size[1]

    @property
    def num_patches(self) -> int:
        gh, gw = self.grid_size
        return gh * gw

    @property
    def out_heatmap_size(self) -> tuple[int, int]:
        h, w = self.input_size
        return self.heatmap_size if self.heatmap_size is not None else (h // 4, w // 4)

    @property
    def hidden_dim(self) -> int:
        if self.head_hidden is not None:
            return self.head_hidden
        if self.head == "regression":
            return 384
        hh, hw = self.out_heatmap_size
        return hh * hw // 8

    def validate(self) -> None:
        """Raise ValueError on an impossible configuration."""
        _check(self.model_type in MODEL_TYPES, f"model_type must be one of {MODEL_TYPES}, got {self.model_type!r}")
        _check(self.head in HEAD_TYPES, f"head must be one of {HEAD_TYPES}, got {self.head!r}")
        _check(self.pos_embedding in POS_TYPES, f"pos_embedding must be one of {POS_TYPES}")
        _check(self.attn_scale in ATTN_SCALES, f"attn_scale must be one of {ATTN_SCALES}")
        _check(self.cycle_num >= 1, "cycle_num must be >= 1")
        h, w = self.input_size
        _check(h % 4 == 0 and w % 4 == 0, f"input_size {self.input_size} must be divisible by 4")
        stride = self.feature_stride
        _check(h % stride == 0 and w % stride == 0,
               f"input_size {self.input_size} must be divisible by the backbone stride {stride}")
        if self.model_type in ("cnn", "pretrain"):
            _check(self.head == "heatmap" and self.cycle_num == 1,
                   f"a {self.model_type} model has a heatmap head and 1 cycle")
            return
        fh, fw = self.feature_size
        ph, pw = self.patch_size
        _check(fh % ph == 0 and fw % pw == 0,
               f"feature map {fh}x{fw} is not divisible by patch size {ph}x{pw}")
        _check(self.dim % self.heads == 0, f"dim {self.dim} is not divisible by heads {self.heads}")
        _check(self.dim % 4 == 0 or self.pos_embedding == "learnable", "sine positions need dim % 4 == 0")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ModelConfig":
        """Build from a dict, rejecting unknown keys with a clear message."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown ModelConfig fields: {unknown}")
        return cls(**data)


def _check(cond: bool, message: str) -> None:
    if not cond:
        raise ValueError(message)
