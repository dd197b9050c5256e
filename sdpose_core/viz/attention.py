"""Attention figures: a keypoint token's attention over the patch grid, drawn on the crop."""
from __future__ import annotations

import textwrap
from typing import Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from sdpose_core.data.coco_meta import KEYPOINT_NAMES

from .common import image_trace, lock_aspect, style_image_axes


# Attention as a ratio to uniform attention, on a diverging scale of log2(ratio) centred on 1:
# red = more than the uniform share, blue = less, and ratio 1 ("no structure") fully transparent,
# so a map of uniform attention leaves the photo as it is. The range is symmetric and reaches at
# least x1/4 .. x4, so small noise around uniform stays faint instead of filling the colour range.
RATIO_SCALE = ((0.0, (33, 102, 172, 0.9)), (0.25, (103, 169, 207, 0.65)), (0.5, (247, 247, 247, 0.0)),
               (0.75, (239, 138, 98, 0.65)), (1.0, (178, 24, 43, 0.9)))
MIN_RATIO_LIMIT = 2.0  # log2: the colour range spans at least x1/4 .. x4


def ratio_limit(ratio_maps: Sequence[np.ndarray]) -> float:
    """Half-width of the symmetric log2 colour range for ratio maps (>= ``MIN_RATIO_LIMIT``)."""
    logs = [np.abs(np.log2(np.clip(np.asarray(m, dtype=float), 1e-6, None))) for m in ratio_maps]
    return float(max([MIN_RATIO_LIMIT, *(float(v.max()) for v in logs if v.size)]))


def ratio_color(ratio: float, limit: float = MIN_RATIO_LIMIT) -> str:
    """The 'rgba(...)' colour a ratio to uniform is drawn with (1 -> the transparent neutral)."""
    t = 0.5 + 0.5 * float(np.clip(np.log2(max(float(ratio), 1e-6)) / limit, -1.0, 1.0))
    for (t0, c0), (t1, c1) in zip(RATIO_SCALE[:-1], RATIO_SCALE[1:]):
        if t <= t1:
            f = 0.0 if t1 == t0 else (t - t0) / (t1 - t0)
            r, g, b, a = (x0 + f * (x1 - x0) for x0, x1 in zip(c0, c1))
            return f"rgba({r:.0f},{g:.0f},{b:.0f},{a:.3f})"
    return "rgba({},{},{},{})".format(*RATIO_SCALE[-1][1])


def _ratio_colorbar(limit: float, x: float | None) -> dict:
    ticks = [v for v in range(-int(np.floor(limit)), int(np.floor(limit)) + 1)]
    text = [f"×{2.0 ** v:g}" if v >= 0 else f"×1/{2 ** -v:g}" for v in ticks]
    return dict(title="× uniform", thickness=10, len=0.8, tickvals=ticks, ticktext=text, **({} if x is None else {"x": x}))


def attention_heatmap_trace(att_map: np.ndarray, crop_hw: tuple[int, int], opacity: float = 0.55,
                            show_scale: bool = True, zmin: float | None = None, zmax: float | None = None,
                            colorbar_x: float | None = None, ratio_limit_log2: float | None = None) -> go.Heatmap:
    """A (gh, gw) patch map stretched over an (H, W) crop: each cell covers its patch's pixels.

    With ``ratio_limit_log2`` the map holds ratios to uniform attention, drawn as log2(ratio) on
    the diverging :data:`RATIO_SCALE` over [-limit, limit] (ratio 1 = transparent neutral)."""
    gh, gw = att_map.shape
    h, w = crop_hw
    ch, cw = h / gh, w / gw
    z = np.asarray(att_map, dtype=float)
    place = dict(x0=(cw - 1) / 2, dx=cw, y0=(ch - 1) / 2, dy=ch, showscale=show_scale, name="attention")
    if ratio_limit_log2 is None:
        return go.Heatmap(z=z, colorscale="Inferno", opacity=opacity, zmin=zmin, zmax=zmax, **place,
                          hovertemplate="patch (%{x:.0f}, %{y:.0f})<br>weight %{z:.4f}<extra></extra>",
                          colorbar=dict(title="weight", thickness=10, len=0.8,
                                        **({} if colorbar_x is None else {"x": colorbar_x})))
    scale = [[t, "rgba({},{},{},{})".format(*c)] for t, c in RATIO_SCALE]
    return go.Heatmap(z=np.log2(np.clip(z, 1e-6, None)), customdata=z, colorscale=scale, opacity=1.0,
                      zmin=-ratio_limit_log2, zmax=ratio_limit_log2, **place,
                      hovertemplate="patch (%{x:.0f}, %{y:.0f})<br>%{customdata:.2f} × uniform<extra></extra>",
                      colorbar=_ratio_colorbar(ratio_limit_log2, colorbar_x))


def attention_grid_figure(crop: np.ndarray | Sequence[np.ndarray], maps: Sequence[np.ndarray], titles: Sequence[str],
                          marker: Sequence[np.ndarray | None] | None = None, height: int = 420,
                          shared_scale: bool = False, ratio: bool = False) -> go.Figure:
    """Small multiples: the crop with one attention map each (e.g. one per cycle).

    Args:
        crop: (H, W, 3) uint8 network input, or one crop per map (models of different input sizes).
        maps: (gh, gw) maps; titles: one per map.
        marker: optional (2,) point per panel (the predicted keypoint, crop pixels), drawn as a cross.
        shared_scale: one colour range (global min..max) and one colour bar for every panel;
            otherwise each panel has its own range and colour bar.
        ratio: the maps are ratios to uniform attention (``interpret.ratio_to_uniform``): one
            diverging scale centred on ratio 1 for every panel (``shared_scale`` is implied).
    """
    n = max(1, len(maps))
    crops = list(crop) if isinstance(crop, (list, tuple)) else [crop] * n
    shared = shared_scale or ratio
    # a title wider than its panel would run off the figure's left edge: wrap it (plotly takes <br>)
    wrapped = ["<br>".join(textwrap.wrap(t, max(18, 90 // n))) for t in titles]
    fig = make_subplots(rows=1, cols=n, subplot_titles=wrapped, horizontal_spacing=0.03 if shared else 0.12)
    lo = float(min(np.min(m) for m in maps)) if shared and maps else None
    hi = float(max(np.max(m) for m in maps)) if shared and maps else None
    limit = ratio_limit(maps) if ratio else None
    for i, att in enumerate(maps, start=1):
        h, w = crops[i - 1].shape[:2]
        fig.add_trace(image_trace(crops[i - 1]), row=1, col=i)
        bar_x = None if shared else fig.layout[f"xaxis{'' if i == 1 else i}"].domain[1] + 0.005
        fig.add_trace(attention_heatmap_trace(np.asarray(att), (h, w), show_scale=not shared or i == n,
                                              zmin=lo, zmax=hi, colorbar_x=bar_x, ratio_limit_log2=limit), row=1, col=i)
        point = None if marker is None else marker[i - 1]
        if point is not None:
            fig.add_trace(go.Scatter(x=[point[0]], y=[point[1]], mode="markers", name="prediction",
                                     marker=dict(symbol="x", size=12, color="cyan", line=dict(width=2)),
                                     showlegend=False), row=1, col=i)
        style_image_axes(fig, row=1, col=i, height_px=h, width_px=w)
    lock_aspect(fig, n)
    lines = max((t.count("<br>") + 1 for t in wrapped), default=1)
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=70 + 18 * max(0, lines - 2), b=10))
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
