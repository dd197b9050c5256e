"""Attention figures: a keypoint token's attention over the patch grid, drawn on the crop."""
from __future__ import annotations

from typing import Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from sdpose_core.data.coco_meta import KEYPOINT_NAMES

from .common import image_trace, lock_aspect, style_image_axes


def attention_heatmap_trace(att_map: np.ndarray, crop_hw: tuple[int, int], opacity: float = 0.55,
                            show_scale: bool = True, zmin: float | None = None, zmax: float | None = None,
                            colorbar_x: float | None = None) -> go.Heatmap:
    """A (gh, gw) patch map stretched over an (H, W) crop: each cell covers its patch's pixels."""
    gh, gw = att_map.shape
    h, w = crop_hw
    ch, cw = h / gh, w / gw
    return go.Heatmap(z=np.asarray(att_map, dtype=float), x0=(cw - 1) / 2, dx=cw, y0=(ch - 1) / 2, dy=ch,
                      colorscale="Inferno", opacity=opacity, showscale=show_scale, zmin=zmin, zmax=zmax,
                      name="attention", hovertemplate="patch (%{x:.0f}, %{y:.0f})<br>weight %{z:.4f}<extra></extra>",
                      colorbar=dict(title="weight", thickness=10, len=0.8,
                                    **({} if colorbar_x is None else {"x": colorbar_x})))


def attention_grid_figure(crop: np.ndarray, maps: Sequence[np.ndarray], titles: Sequence[str],
                          marker: Sequence[np.ndarray | None] | None = None, height: int = 420,
                          shared_scale: bool = False) -> go.Figure:
    """Small multiples: the crop with one attention map each (e.g. one per cycle).

    Args:
        crop: (H, W, 3) uint8 network input.
        maps: (gh, gw) maps; titles: one per map.
        marker: optional (2,) point per panel (the predicted keypoint, crop pixels), drawn as a cross.
        shared_scale: one colour range (global min..max) and one colour bar for every panel;
            otherwise each panel has its own range and colour bar.
    """
    n = max(1, len(maps))
    fig = make_subplots(rows=1, cols=n, subplot_titles=list(titles),
                        horizontal_spacing=0.03 if shared_scale else 0.12)
    h, w = crop.shape[:2]
    lo = float(min(np.min(m) for m in maps)) if shared_scale and maps else None
    hi = float(max(np.max(m) for m in maps)) if shared_scale and maps else None
    for i, att in enumerate(maps, start=1):
        fig.add_trace(image_trace(crop), row=1, col=i)
        bar_x = None if shared_scale else fig.layout[f"xaxis{'' if i == 1 else i}"].domain[1] + 0.005
        fig.add_trace(attention_heatmap_trace(np.asarray(att), (h, w), show_scale=shared_scale is False or i == n,
                                              zmin=lo, zmax=hi, colorbar_x=bar_x), row=1, col=i)
        point = None if marker is None else marker[i - 1]
        if point is not None:
            fig.add_trace(go.Scatter(x=[point[0]], y=[point[1]], mode="markers", name="prediction",
                                     marker=dict(symbol="x", size=12, color="cyan", line=dict(width=2)),
                                     showlegend=False), row=1, col=i)
        style_image_axes(fig, row=1, col=i, height_px=h, width_px=w)
    lock_aspect(fig, n)
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=70, b=10))
    return fig


def token_change_figure(changes: np.ndarray, metric: str = "cosine", height: int = 340) -> go.Figure:
    """Grouped bars: how much each keypoint token changed from cycle i to i + 1, (cycles - 1, K)."""
    fig = go.Figure()
    for i, row in enumerate(np.asarray(changes)):
        fig.add_trace(go.Bar(x=list(KEYPOINT_NAMES), y=row, name=f"cycle {i + 1} → {i + 2}"))
    label = "1 − cosine similarity" if metric == "cosine" else "relative L2 change"
    fig.update_layout(barmode="group", height=height, yaxis_title=label, xaxis_tickangle=-45,
                      margin=dict(l=60, r=10, t=60, b=90), legend=dict(orientation="h", y=1.02, yanchor="bottom",
                                                                      x=1, xanchor="right"))
    return fig
