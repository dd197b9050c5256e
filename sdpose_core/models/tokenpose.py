"""TokenPose encoder and the (Multi-Cycled) token pose model: SDPose, TokenPose, DistilPose students.

Data flow (SDPose, Chen et al. 2023; TokenPose, Li et al. 2021):
image (B,3,H,W) -> StemNet (B,C,H/4,W/4) [-> stride-2 stages, see backbone.py] -> patches (B,N,C*ph*pw) -> Linear -> (B,N,D) + sine pos
-> cat[17 keypoint tokens, patches] (B,K+N,D) -> transformer run ``cycles`` times with SHARED
weights, each cycle fed the previous cycle's whole token sequence -> head on keypoint tokens.
"""
from __future__ import annotations

import torch
from torch import nn

from .config import ModelConfig
from .heads import build_head
from .outputs import CycleOutput
from .position import sine_position_table
from .backbone import build_backbone
from .stem import init_cnn_
from .transformer import Transformer


class TokenPoseEncoder(nn.Module):
    """Patch embedding, keypoint tokens, positions and the shared transformer.

    Args:
        cfg: the model config (dim, depth, heads, mlp_ratio, patch_size, pos_embedding, attn_scale).
        in_channels: backbone channels C (StemNet 256).
    """

    def __init__(self, cfg: ModelConfig, in_channels: int) -> None:
        super().__init__()
        self.patch_size = cfg.patch_size
        self.grid_size = cfg.grid_size
        self.num_keypoints = K = cfg.num_keypoints
        self.pos_type = cfg.pos_embedding
        N, D = cfg.num_patches, cfg.dim
        self.keypoint_token = nn.Parameter(torch.zeros(1, K, D))  # (1, K, D)
        if self.pos_type == "learnable":
            self.pos_embedding = nn.Parameter(torch.zeros(1, K + N, D))  # (1, K+N, D)
        else:  # fixed sine table, stored in the state dict like the official one
            self.register_buffer("pos_embedding", sine_position_table(*self.grid_size, D))  # (1, N, D)
        self.patch_to_embedding = nn.Linear(in_channels * cfg.patch_size[0] * cfg.patch_size[1], D)
        self.dropout = nn.Dropout(cfg.dropout)
        scale = (D // cfg.heads) ** -0.5 if cfg.attn_scale == "head" else D ** -0.5
        self.transformer = Transformer(D, cfg.depth, cfg.heads, D * cfg.mlp_ratio, scale, K,
                                       readd_pos=self.pos_type == "sine-full", dropout=cfg.dropout)

    def patchify(self, feat: torch.Tensor) -> torch.Tensor:
        """'b c (h p1) (w p2) -> b (h w) (p1 p2 c)': channel fastest, then p2, then p1."""
        B, C, Hf, Wf = feat.shape
        (p1, p2), (gh, gw) = self.patch_size, self.grid_size
        if (Hf, Wf) != (gh * p1, gw * p2):
            raise ValueError(f"feature map {Hf}x{Wf} does not match the configured grid "
                             f"{gh}x{gw} of {p1}x{p2} patches: check the input size")
        x = feat.view(B, C, gh, p1, gw, p2).permute(0, 2, 4, 3, 5, 1)  # (B, gh, gw, p1, p2, C)
        return x.reshape(B, gh * gw, p1 * p2 * C)  # (B, N, p1*p2*C)

    def embed(self, feat: torch.Tensor) -> torch.Tensor:
        """Backbone features (B, C, h, w) -> initial token sequence (B, K + N, D)."""
        x = self.patch_to_embedding(self.patchify(feat))  # (B, N, D)
        kpt = self.keypoint_token.expand(x.shape[0], -1, -1)  # (B, K, D)
        if self.pos_type == "learnable":
            x = torch.cat((kpt, x), dim=1) + self.pos_embedding
        else:
            x = torch.cat((kpt, x + self.pos_embedding), dim=1)  # positions on patch tokens only
        return self.dropout(x)

    def cycle(self, x: torch.Tensor, return_attention: bool = False
              ) -> tuple[torch.Tensor, list[torch.Tensor] | None]:
        """One pass of the shared transformer over the whole sequence (B, K + N, D)."""
        return self.transformer(x, self.pos_embedding, return_attention)


class TokenPoseModel(nn.Module):
    """StemNet + TokenPose encoder + head; ``cycle_num > 1`` makes it SDPose's Multi-Cycled Transformer.

    Call as ``model(images, cycles=None, return_attention=False) -> list[CycleOutput]``.

    Args:
        cfg: the model config; ``cfg.cycle_num`` is the number of cycles trained (SDPose-T 3).
        head: a head module mapping keypoint tokens (B, K, D) to a CycleOutput; default the one
            ``cfg.head`` names (a custom head is not re-created by ``load_model``).
    """

    def __init__(self, cfg: ModelConfig, head: nn.Module | None = None) -> None:
        super().__init__()
        self.config = cfg
        self.cycle_num = cfg.cycle_num
        self.backbone = build_backbone(cfg)
        self.encoder = TokenPoseEncoder(cfg, self.backbone.out_channels)
        self.head = build_head(cfg) if head is None else head
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Official inits: trunc_normal(0.02) Linears with zero bias, LN (1, 0), keypoint tokens
        trunc_normal(0.02); He-normal convs for the stem (see ``init_cnn_``)."""
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.LayerNorm):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        nn.init.trunc_normal_(self.encoder.keypoint_token, std=0.02)
        if isinstance(self.encoder.pos_embedding, nn.Parameter):
            nn.init.trunc_normal_(self.encoder.pos_embedding, std=0.02)
        init_cnn_(self.backbone)

    def resolve_cycles(self, cycles: int | None) -> int:
        """``None`` -> 1 in eval mode (SDPose inference uses cycle 1), all cycles in training."""
        if cycles is None:
            return self.cycle_num if self.training else 1
        if not 1 <= int(cycles) <= self.cycle_num:
            raise ValueError(f"cycles must be in 1..{self.cycle_num} for this model, got {cycles}")
        return int(cycles)

    def forward(self, images: torch.Tensor | None, cycles: int | None = None,
                return_attention: bool = False, features: torch.Tensor | None = None) -> list[CycleOutput]:
        """Run the model.

        Args:
            images: (B, 3, H, W) normalised crops.
            cycles: how many cycles to run (see ``resolve_cycles``).
            return_attention: keep per-layer attention (B, heads, K+N, K+N) in each record.
            features: the backbone's output for these crops, computed earlier (a frozen
                backbone's feature cache, ``train/feature_cache.py``); then ``images`` is unused.

        Returns:
            one CycleOutput per cycle run.
        """
        n = self.resolve_cycles(cycles)
        if features is None:
            feats = self.backbone(images)  # (B, C, H/s, W/s), s = cfg.feature_stride
        else:
            feats = features
        x = self.encoder.embed(feats)  # (B, K + N, D)
        K = self.encoder.num_keypoints
        outputs = []
        for _ in range(n):
            x, attns = self.encoder.cycle(x, return_attention)
            kpt, vis = x[:, :K], x[:, K:]  # (B, K, D), (B, N, D)
            out = self.head(kpt)
            out.keypoint_tokens, out.visual_tokens = kpt, vis
            out.attention, out.features = attns, feats
            outputs.append(out)
        return outputs
