"""sdpose_core.interpret: attention maps, rollout, token dynamics, heatmap views (one photo through a
model: ``sdpose_core.evaluate.inference.run_pose``)."""
from .attention import (attention_rollout, cycle_rollouts, keypoint_attention_map, keypoint_rollout_map, patch_grid,
                        ratio_to_uniform)
from .collapse import CollapseReport, collapse_report, left_right_difference
from .heatmaps import HeatmapView, distilpose_heatmap_view
from .tokens import token_change_per_cycle

__all__ = ["keypoint_attention_map",
           "attention_rollout", "keypoint_rollout_map", "patch_grid", "token_change_per_cycle",
           "HeatmapView", "distilpose_heatmap_view", "cycle_rollouts", "ratio_to_uniform",
           "CollapseReport", "collapse_report", "left_right_difference"]
