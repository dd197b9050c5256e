"""sdpose_core.interpret: inference on one photo, attention maps, rollout, token dynamics."""
from .attention import attention_rollout, keypoint_attention_map, keypoint_rollout_map, patch_grid
from .heatmaps import HeatmapView, distilpose_heatmap_view
from .inference import PoseResult, box_area, oks_agreement, run_pose
from .tokens import token_change_per_cycle

__all__ = ["PoseResult", "run_pose", "box_area", "oks_agreement", "keypoint_attention_map",
           "attention_rollout", "keypoint_rollout_map", "patch_grid", "token_change_per_cycle",
           "HeatmapView", "distilpose_heatmap_view"]
