"""Distillation losses of SDPose, DistilPose and DWPose, matching the official code, and the
distillation family NKD / tf-NKD, ViTKD and MGD (official defaults, adapted to token students).

Every method-level loss returns a dict of named terms (the official names) plus ``total``;
see docs/distillation.md for the formulas, defaults and the official quirks.
"""
from sdpose_core.distill.common import TokenDistilLoss, joints_mse_loss, kl_to_soft_target
from sdpose_core.distill.distilpose import (
    DistilPoseLoss,
    Reg2HMLoss,
    ScoreLoss,
    coord_smooth_l1_loss,
    gaussian_in_map_mask,
    simulated_heatmap,
)
from sdpose_core.distill.dwpose import (
    DWPoseStage1Loss,
    DWPoseStage2Loss,
    FeatureLoss,
    KDLoss,
    KLDiscretLoss,
    simcc_kd_term,
    stage1_decay,
)
from sdpose_core.distill.mgd import MGDLoss, generation_block, random_spatial_mask
from sdpose_core.distill.nkd import NKDLoss, TfNKDLoss, nkd_axis_terms, simcc_target_bins, tf_nkd_axis
from sdpose_core.distill.sdpose import SDPoseLoss, cycle_token_loss
from sdpose_core.distill.vitkd import ViTKDLoss, random_token_mask, record_layer_tokens

__all__ = [
    "joints_mse_loss", "TokenDistilLoss", "kl_to_soft_target",
    "SDPoseLoss", "cycle_token_loss",
    "simulated_heatmap", "gaussian_in_map_mask", "Reg2HMLoss", "ScoreLoss",
    "coord_smooth_l1_loss", "DistilPoseLoss",
    "stage1_decay", "simcc_kd_term", "KDLoss", "FeatureLoss", "KLDiscretLoss",
    "DWPoseStage1Loss", "DWPoseStage2Loss",
    "simcc_target_bins", "nkd_axis_terms", "NKDLoss", "tf_nkd_axis", "TfNKDLoss",
    "ViTKDLoss", "random_token_mask", "record_layer_tokens",
    "MGDLoss", "generation_block", "random_spatial_mask",
]
