"""Token-dynamics figures: attention entropy, distance to the teacher and keypoint-token similarity
of every snapshot of a run, against epoch, with the AP curve on the same x axis.

Data comes from :func:`sdpose_core.interpret.dynamics.token_dynamics`; nothing is computed here
beyond picking a cycle / layer and averaging over keypoints.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from sdpose_core.data.coco_meta import KEYPOINT_NAMES
from sdpose_core.interpret.dynamics import TokenDynamics

from .attention import attention_grid_figure
from .common import MODEL_COLORS

LAYER_COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
                "#bcbd22", "#17becf", "#393b79", "#637939")


def _check(dyn: TokenDynamics, cycle: int, layer: int | None = None) -> None:
    cycles, layers = dyn.entropy.shape[1:3]
    if not 1 <= cycle <= cycles:
        raise ValueError(f"cycle {cycle} out of range 1..{cycles}")
    if layer is not None and not -layers <= layer < layers:
        raise ValueError(f"layer {layer} out of range 0..{layers - 1}")


def _distance_rows(dyn: TokenDynamics, cycle: int) -> tuple[str, list[tuple[str, np.ndarray]]] | None:
    """(axis title, [(name, (S,) values)]) for the distance row: to the teacher, else between cycles."""
    if dyn.teacher_mse is not None:
        return ("token MSE to teacher", [(f"to {dyn.teacher or 'teacher'}", dyn.teacher_mse[:, cycle - 1].mean(-1))])
    if dyn.cycle_gap is not None:
        return ("token MSE between cycles", [(f"cycle {i + 1} → {i + 2}", dyn.cycle_gap[:, i].mean(-1))
                                             for i in range(dyn.cycle_gap.shape[1])])
    return None


def dynamics_figure(dyn: TokenDynamics, cycle: int = 1, height: int = 820) -> go.Figure:
    """Stacked panels sharing the epoch axis: AP; mean attention entropy per layer (nats, dashed: a
    uniform look, log N); token distance to the teacher (or between cycles); left/right similarity
    of the keypoint tokens after the last layer. A dotted line marks the epoch ending the largest AP rise."""
    _check(dyn, cycle)
    distance = _distance_rows(dyn, cycle)
    titles = ["AP (val, every epoch; dotted: the end of its largest one-epoch rise)",
              f"attention entropy of the keypoint tokens, cycle {cycle}"]
    titles += [distance[0]] if distance else []
    titles += [f"keypoint-token similarity after the last layer, cycle {cycle}"]
    fig = make_subplots(rows=len(titles), cols=1, shared_xaxes=True, vertical_spacing=0.06, subplot_titles=titles)
    x = dyn.epochs.tolist()
    fig.add_trace(go.Scatter(x=dyn.ap_epochs.tolist(), y=dyn.ap.tolist(), mode="lines", name="AP",
                             line=dict(color="black", width=2)), row=1, col=1)
    fig.add_trace(go.Scatter(x=x, y=dyn.snapshot_ap().tolist(), mode="markers", name="snapshots",
                             text=dyn.labels, marker=dict(size=9, color="black", symbol="circle-open")), row=1, col=1)
    for layer, values in enumerate(dyn.mean_entropy()[:, cycle - 1].T):
        fig.add_trace(go.Scatter(x=x, y=values.tolist(), mode="lines+markers", name=f"layer {layer}",
                                 text=dyn.labels, line=dict(color=LAYER_COLORS[layer % len(LAYER_COLORS)])),
                      row=2, col=1)
    fig.add_hline(y=dyn.max_entropy, line_dash="dash", line_color="grey", row=2, col=1,
                  annotation_text=f"uniform (log {dyn.maps.shape[-2] * dyn.maps.shape[-1]})",
                  annotation_position="bottom right")
    row = 3
    if distance:
        for i, (name, values) in enumerate(distance[1]):
            fig.add_trace(go.Scatter(x=x, y=values.tolist(), mode="lines+markers", name=name, text=dyn.labels,
                                     line=dict(color=MODEL_COLORS[(i + 1) % len(MODEL_COLORS)])), row=row, col=1)
        row += 1
    pairs, others = dyn.left_right()
    fig.add_trace(go.Scatter(x=x, y=pairs[:, cycle - 1, -1].tolist(), mode="lines+markers", name="left/right pairs",
                             line=dict(color="#d62728")), row=row, col=1)
    fig.add_trace(go.Scatter(x=x, y=others[:, cycle - 1, -1].tolist(), mode="lines+markers", name="other pairs",
                             line=dict(color="#7f7f7f", dash="dash")), row=row, col=1)
    jump = dyn.jump_epoch()
    if jump is not None:
        fig.add_vline(x=jump, line_dash="dot", line_color="#9467bd")
    fig.update_xaxes(title_text="epoch", dtick=1, row=row, col=1)
    fig.update_yaxes(title_text="AP", rangemode="tozero", row=1, col=1)
    fig.update_yaxes(title_text="nats", row=2, col=1)
    fig.update_yaxes(title_text="cosine", row=row, col=1)
    fig.update_layout(height=height, margin=dict(l=60, r=20, t=60, b=50), legend=dict(x=1.02, y=1))
    return fig


def keypoint_snapshot_figure(values: np.ndarray, labels: Sequence[str], colorbar: str, title: str = "",
                             colorscale: str = "Viridis", height: int = 420) -> go.Figure:
    """A keypoint x snapshot heat map of one measure: ``values`` (S, K), one column per snapshot."""
    values = np.asarray(values, dtype=np.float64)
    fig = go.Figure(go.Heatmap(z=values.T, x=list(labels), y=list(KEYPOINT_NAMES[:values.shape[1]]),
                               colorscale=colorscale, colorbar=dict(title=colorbar),
                               hovertemplate="%{y} · %{x}<br>%{z:.3f}<extra></extra>"))
    fig.update_yaxes(autorange="reversed")
    fig.update_layout(title=title, height=height, margin=dict(l=110, r=20, t=60, b=60))
    return fig


def entropy_by_keypoint_figure(dyn: TokenDynamics, cycle: int = 1, layer: int = -1) -> go.Figure:
    """Attention entropy (nats) of each keypoint token at one cycle and layer, per snapshot."""
    _check(dyn, cycle, layer)
    index = layer % dyn.entropy.shape[2]
    return keypoint_snapshot_figure(dyn.entropy[:, cycle - 1, layer], dyn.labels, "nats",
                                    f"attention entropy per keypoint token (cycle {cycle}, layer {index}; "
                                    f"uniform = {dyn.max_entropy:.2f})", colorscale="Viridis_r")


def teacher_distance_figure(dyn: TokenDynamics, cycle: int = 1, metric: str = "mse") -> go.Figure:
    """Distance of each student keypoint token to the teacher's, per snapshot (``mse`` or ``cosine``)."""
    _check(dyn, cycle)
    values = dyn.teacher_mse if metric == "mse" else dyn.teacher_cosine if metric == "cosine" else None
    if metric not in ("mse", "cosine"):
        raise ValueError(f"metric must be 'mse' or 'cosine', got {metric!r}")
    if values is None:
        raise ValueError(f"{dyn.run}: no teacher was given, so there is no distance to draw")
    label = "MSE" if metric == "mse" else "1 − cosine"
    return keypoint_snapshot_figure(values[:, cycle - 1], dyn.labels, label,
                                    f"student keypoint token vs {dyn.teacher or 'teacher'}: {label}")


def similarity_matrices_figure(dyn: TokenDynamics, cycle: int = 1, layer: int = -1,
                               snapshots: Sequence[int] | None = None, height: int = 380) -> go.Figure:
    """Keypoint-token cosine similarity (K x K), one panel per snapshot, one colour scale (lowest value .. 1)."""
    _check(dyn, cycle, layer)
    chosen = list(range(len(dyn.labels))) if snapshots is None else list(snapshots)
    fig = make_subplots(rows=1, cols=len(chosen), subplot_titles=[dyn.labels[i] for i in chosen],
                        horizontal_spacing=0.02)
    names = list(KEYPOINT_NAMES[:dyn.similarity.shape[-1]])
    lowest = float(min(dyn.similarity[i, cycle - 1, layer].min() for i in chosen))
    for col, i in enumerate(chosen, start=1):
        fig.add_trace(go.Heatmap(z=dyn.similarity[i, cycle - 1, layer], x=names, y=names, zmin=lowest, zmax=1,
                                 colorscale="Viridis", showscale=col == len(chosen), colorbar=dict(title="cosine"),
                                 hovertemplate="%{y} · %{x}<br>%{z:.3f}<extra></extra>"), row=1, col=col)
        fig.update_xaxes(showticklabels=False, row=1, col=col)
        fig.update_yaxes(autorange="reversed", showticklabels=col == 1, scaleanchor=f"x{'' if col == 1 else col}",
                         row=1, col=col)
    fig.update_layout(height=height, margin=dict(l=110, r=20, t=60, b=20),
                      title=f"keypoint-token similarity, cycle {cycle}, layer {layer % dyn.similarity.shape[2]}")
    return fig


def snapshot_attention_figure(dyn: TokenDynamics, keypoint: int, cycle: int = 1, layer: int = -1,
                              snapshots: Sequence[int] | None = None, titles: Sequence[str] | None = None,
                              height: int = 360) -> go.Figure:
    """One keypoint token's attention on probe crop 0 at each chosen snapshot, one colour scale.
    ``titles`` replaces the snapshot labels (e.g. 'A' / 'B' to hide which snapshot is which)."""
    _check(dyn, cycle, layer)
    chosen = list(range(len(dyn.labels))) if snapshots is None else list(snapshots)
    maps = [dyn.maps[i, cycle - 1, layer, keypoint] for i in chosen]
    return attention_grid_figure(dyn.crop, maps, list(titles) if titles else [dyn.labels[i] for i in chosen],
                                 height=height, shared_scale=True)
