"""sdpose_core.viz: plotly figure builders (skeletons, confidences, attention, heatmaps)."""
from .attention import attention_grid_figure, token_change_figure
from .common import empty_figure, titled
from .heatmaps import heatmap_comparison_figure, loss_table_markdown
from .skeleton import PoseDrawing, confidence_bar_figure, skeleton_figure

__all__ = ["PoseDrawing", "skeleton_figure", "confidence_bar_figure", "attention_grid_figure",
           "token_change_figure", "heatmap_comparison_figure", "loss_table_markdown", "empty_figure", "titled"]
