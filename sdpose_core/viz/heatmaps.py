"""Heatmap figures: teacher heatmap vs a regression student's simulated heatmap, with σ ellipses."""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .common import lock_aspect, style_image_axes


def sigma_ellipse_trace(center: np.ndarray, sigma: np.ndarray, k: float = 1.0, name: str = "σ ellipse",
                        color: str = "cyan") -> go.Scatter:
    """The axis-aligned k·σ ellipse around ``center`` (x, y), both in heatmap pixels."""
    t = np.linspace(0, 2 * np.pi, 64)
    x = center[0] + k * sigma[0] * np.cos(t)
    y = center[1] + k * sigma[1] * np.sin(t)
    return go.Scatter(x=x, y=y, mode="lines", line=dict(color=color, width=2, dash="dot" if k > 1 else "solid"),
                      name=name, hoverinfo="name", showlegend=False)


def heatmap_comparison_figure(teacher: np.ndarray, simulated: np.ndarray, center: np.ndarray,
                              sigma: np.ndarray, title: str = "", height: int = 380) -> go.Figure:
    """Three panels: teacher heatmap, the student's simulated heatmap, and simulated − teacher.

    Args:
        teacher, simulated: (H, W) maps of one keypoint.
        center: the student's predicted location in heatmap pixels (x, y) (the Gaussian's mean).
        sigma: (σx, σy) in heatmap pixels; 1σ and 2σ ellipses are drawn on the first two panels.
    """
    fig = make_subplots(rows=1, cols=3, horizontal_spacing=0.06,
                        subplot_titles=["teacher heatmap", "student simulated heatmap",
                                        "difference (simulated − teacher)"])
    lim = float(max(np.abs(simulated - teacher).max(), 1e-6))
    hi = float(max(teacher.max(), simulated.max(), 1e-6))
    panels = [(teacher, "Viridis", 0.0, hi, 0.27), (simulated, "Viridis", 0.0, hi, 0.63),
              (simulated - teacher, "RdBu_r", -lim, lim, 1.0)]
    for i, (z, scale, lo, top, bar_x) in enumerate(panels, start=1):
        fig.add_trace(go.Heatmap(z=z, colorscale=scale, zmin=lo, zmax=top, name=f"panel {i}",
                                 colorbar=dict(x=bar_x, thickness=10, len=0.8),
                                 hovertemplate="(%{x}, %{y}) %{z:.4f}<extra></extra>"), row=1, col=i)
        if i < 3:
            for k in (1.0, 2.0):
                fig.add_trace(sigma_ellipse_trace(center, sigma, k, name=f"{k:g}σ"), row=1, col=i)
            fig.add_trace(go.Scatter(x=[center[0]], y=[center[1]], mode="markers", name="student location",
                                     marker=dict(symbol="x", size=9, color="cyan"), showlegend=False),
                          row=1, col=i)
        style_image_axes(fig, row=1, col=i, height_px=z.shape[0], width_px=z.shape[1])
    lock_aspect(fig, 3)
    fig.update_layout(title=dict(text=title, x=0.5, xanchor="center") if title else None, height=height,
                      margin=dict(l=10, r=10, t=90 if title else 70, b=10))
    return fig


def loss_table_markdown(losses: Mapping[str, float], extra: Mapping[str, str] | None = None) -> str:
    """A Markdown table of loss terms (name | value)."""
    lines = ["| term | value |", "| --- | ---: |"]
    lines += [f"| `{k}` | {v:.6g} |" for k, v in losses.items()]
    for k, v in (extra or {}).items():
        lines.append(f"| {k} | {v} |")
    return "\n".join(lines)


def sigma_overlay_figure(crop: np.ndarray, centers: np.ndarray, sigma: np.ndarray, highlight: int | None = None,
                         k: float = 2.0, height: int = 420) -> go.Figure:
    """The crop with every keypoint's k·σ ellipse (crop pixels); ``highlight`` drawn thicker in cyan."""
    from sdpose_core.data.coco_meta import KEYPOINT_NAMES

    from .common import image_trace

    fig = go.Figure(image_trace(crop))
    for i, (c, s) in enumerate(zip(centers, sigma)):
        chosen = i == highlight
        fig.add_trace(sigma_ellipse_trace(c, s, k, name=KEYPOINT_NAMES[i], color="cyan" if chosen else "orange"))
        if chosen:
            fig.data[-1].line.width = 3
    fig.add_trace(go.Scatter(x=centers[:, 0], y=centers[:, 1], mode="markers", name="student keypoints",
                             text=list(KEYPOINT_NAMES), hoverinfo="text", showlegend=False,
                             marker=dict(size=6, color="orange", line=dict(color="black", width=1))))
    h, w = crop.shape[:2]
    style_image_axes(fig, height_px=h, width_px=w)
    lock_aspect(fig, 1)
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=40, b=10))
    return fig


def heatmap_grid_figure(maps: np.ndarray, titles: Sequence[str], cols: int = 6, zmax: float | None = None,
                        colorscale: str = "Viridis", height_per_row: int = 190) -> go.Figure:
    """Small multiples of (K, H, W) maps on one colour scale (e.g. every keypoint's heatmap)."""
    maps = np.asarray(maps, dtype=float)
    rows = int(np.ceil(len(maps) / cols))
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=list(titles), horizontal_spacing=0.01,
                        vertical_spacing=0.06)
    top = float(maps.max()) if zmax is None else zmax
    lo = min(0.0, float(maps.min()))
    for i, z in enumerate(maps):
        r, c = i // cols + 1, i % cols + 1
        fig.add_trace(go.Heatmap(z=z, zmin=lo, zmax=top, colorscale=colorscale, showscale=i == 0,
                                 name=str(titles[i]), colorbar=dict(thickness=10, len=0.6),
                                 hovertemplate="(%{x}, %{y}) %{z:.4f}<extra></extra>"), row=r, col=c)
        style_image_axes(fig, row=r, col=c, height_px=z.shape[0], width_px=z.shape[1])
    lock_aspect(fig, len(maps))
    fig.update_annotations(font_size=11)
    fig.update_layout(height=rows * height_per_row + 60, margin=dict(l=10, r=10, t=50, b=10))
    return fig
