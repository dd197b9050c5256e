"""Skeleton overlays in original image pixels and per-keypoint confidence bars."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from sdpose_core.data.coco_meta import KEYPOINT_NAMES, SKELETON

from .common import CONFIDENCE_SCALE, MODEL_COLORS, image_trace, lock_aspect, style_image_axes


@dataclass
class PoseDrawing:
    """One model's prediction to draw: keypoints (K, 2) in image pixels, scores (K,)."""

    name: str
    keypoints: np.ndarray
    scores: np.ndarray
    color: str | None = None


def limb_trace(keypoints: np.ndarray, color: str, name: str, width: float = 2.5) -> go.Scatter:
    """All COCO limbs as one line trace (None breaks between segments)."""
    xs: list[float | None] = []
    ys: list[float | None] = []
    for a, b in SKELETON:
        xs += [float(keypoints[a, 0]), float(keypoints[b, 0]), None]
        ys += [float(keypoints[a, 1]), float(keypoints[b, 1]), None]
    return go.Scatter(x=xs, y=ys, mode="lines", line=dict(color=color, width=width),
                      name=f"{name} limbs", hoverinfo="skip", showlegend=False)


def keypoint_trace(keypoints: np.ndarray, scores: np.ndarray, name: str, color: str,
                   show_scale: bool = True, size: float = 9) -> go.Scatter:
    """One marker per keypoint, filled by confidence (0..1), outlined in the model colour."""
    text = [f"{n}<br>score {s:.3f}<br>({x:.1f}, {y:.1f})"
            for n, s, (x, y) in zip(KEYPOINT_NAMES, scores, keypoints)]
    return go.Scatter(
        x=keypoints[:, 0], y=keypoints[:, 1], mode="markers", name=f"{name} keypoints",
        text=text, hoverinfo="text", showlegend=False,
        marker=dict(size=size, color=np.clip(scores, 0, 1), colorscale=CONFIDENCE_SCALE, cmin=0, cmax=1,
                    line=dict(color=color, width=2), showscale=show_scale,
                    colorbar=dict(title="confidence", thickness=12, len=0.8)))


def skeleton_figure(image: np.ndarray, poses: Sequence[PoseDrawing], height: int = 520) -> go.Figure:
    """The photo once per model, side by side, each with that model's skeleton (image pixels)."""
    n = max(1, len(poses))
    fig = make_subplots(rows=1, cols=n, subplot_titles=[p.name for p in poses] or None,
                        horizontal_spacing=0.04)
    h, w = image.shape[:2]
    for i, pose in enumerate(poses, start=1):
        color = pose.color or MODEL_COLORS[(i - 1) % len(MODEL_COLORS)]
        fig.add_trace(image_trace(image), row=1, col=i)
        fig.add_trace(limb_trace(pose.keypoints, color, pose.name), row=1, col=i)
        fig.add_trace(keypoint_trace(pose.keypoints, pose.scores, pose.name, color, show_scale=i == n),
                      row=1, col=i)
        style_image_axes(fig, row=1, col=i, height_px=h, width_px=w)
    lock_aspect(fig, n)
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=70, b=10), plot_bgcolor="white")
    return fig


def confidence_bar_figure(poses: Sequence[PoseDrawing], height: int = 320) -> go.Figure:
    """Grouped bars: each model's confidence per keypoint."""
    fig = go.Figure()
    for i, pose in enumerate(poses):
        fig.add_trace(go.Bar(x=list(KEYPOINT_NAMES), y=np.asarray(pose.scores, dtype=float), name=pose.name,
                             marker_color=pose.color or MODEL_COLORS[i % len(MODEL_COLORS)]))
    fig.update_layout(barmode="group", height=height, yaxis_title="confidence", xaxis_tickangle=-45,
                      margin=dict(l=50, r=10, t=60, b=90), legend=dict(orientation="h", y=1.02, yanchor="bottom",
                                                                      x=1, xanchor="right"))
    return fig
