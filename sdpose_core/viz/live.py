"""Live-distillation figures: the student's skeleton converging onto the teacher's, and the loss.

The animation works inside gradio too (which hands plotly only data + layout, no frames): the
slider restyles the student traces directly, and the play button animates inline frame objects.
``fig.frames`` is filled as well, for plain plotly (notebooks, ``fig.show()``).
"""
from __future__ import annotations

from typing import Sequence

import cv2
import numpy as np
import plotly.graph_objects as go

from .common import image_trace, lock_aspect, style_image_axes
from .skeleton import PoseDrawing, keypoint_trace, limb_trace

TEACHER_COLOR, STUDENT_COLOR = "#1f77b4", "#00c853"


def _student_traces(pose: PoseDrawing) -> tuple[go.Scatter, go.Scatter]:
    return (limb_trace(pose.keypoints, STUDENT_COLOR, pose.name, width=3.0),
            keypoint_trace(pose.keypoints, pose.scores, pose.name, STUDENT_COLOR, show_scale=False, size=8))


def _restyle(pose: PoseDrawing) -> dict:
    """Slider payload: the student's limb and keypoint traces for one snapshot."""
    limbs, points = _student_traces(pose)
    return {"x": [list(limbs.x), list(points.x)], "y": [list(limbs.y), list(points.y)],
            "marker.color": [None, list(points.marker.color)], "text": [None, list(points.text)]}


def _shrunk(image: np.ndarray, poses: Sequence[PoseDrawing], region: Sequence[float] | None,
            max_side: int) -> tuple[np.ndarray, list[PoseDrawing], list[float] | None]:
    """Downscale a big photo (and the points and region with it) so the figure stays small."""
    s = min(1.0, max_side / max(image.shape[:2]))
    if s >= 1.0:
        return image, list(poses), None if region is None else list(region)
    small = cv2.resize(image, (max(1, round(image.shape[1] * s)), max(1, round(image.shape[0] * s))),
                       interpolation=cv2.INTER_AREA)
    moved = [PoseDrawing(p.name, (np.asarray(p.keypoints) + 0.5) * s - 0.5, p.scores, p.color) for p in poses]
    return small, moved, None if region is None else [float(v) * s for v in region]


def live_animation_figure(image: np.ndarray, teacher: PoseDrawing, students: Sequence[PoseDrawing],
                          region: Sequence[float] | None = None, height: int = 560,
                          frame_ms: int = 350, max_side: int = 720) -> go.Figure:
    """The photo with the teacher's skeleton (blue) and the student's (green) at each snapshot.

    Args:
        image: (H, W, 3) uint8 RGB.
        teacher: the teacher's keypoints in image pixels.
        students: one drawing per snapshot, in order (its ``name`` labels the slider step).
        region: x, y, w, h to zoom on (e.g. the person box); None shows the whole photo.
        max_side: photos larger than this are downscaled for display (points follow).
    """
    if not students:
        raise ValueError("no snapshots to animate")
    image, poses, region = _shrunk(image, [teacher, *students], region, max_side)
    teacher, students = poses[0], poses[1:]
    shown = _student_traces(students[-1])  # opens on the last snapshot; play runs from the first
    fig = go.Figure([image_trace(image),
                     limb_trace(teacher.keypoints, TEACHER_COLOR, teacher.name, width=2.0).update(opacity=0.7),
                     keypoint_trace(teacher.keypoints, teacher.scores, teacher.name, TEACHER_COLOR,
                                    show_scale=False, size=7).update(opacity=0.7),
                     *shown])
    fig.frames = [go.Frame(data=list(_student_traces(s)), traces=[3, 4], name=str(i))
                  for i, s in enumerate(students)]
    inline = [{"data": [t.to_plotly_json() for t in _student_traces(s)], "traces": [3, 4]} for s in students]
    steps = [dict(method="restyle", label=s.name, args=[_restyle(s), [3, 4]]) for s in students]
    h, w = image.shape[:2]
    style_image_axes(fig, height_px=h, width_px=w)
    if region is not None:
        x, y, rw, rh = (float(v) for v in region)
        fig.update_xaxes(range=[x - 0.5, x + rw - 0.5])
        fig.update_yaxes(range=[y + rh - 0.5, y - 0.5])
    lock_aspect(fig, 1)
    play = dict(label="▶ play", method="animate",
                args=[inline, {"frame": {"duration": frame_ms, "redraw": False}, "transition": {"duration": 0},
                               "mode": "immediate"}])
    fig.update_layout(
        height=height, margin=dict(l=10, r=10, t=50, b=10), plot_bgcolor="white",
        title=dict(text=f"<span style='color:{TEACHER_COLOR}'>teacher</span> vs "
                        f"<span style='color:{STUDENT_COLOR}'>student</span>", x=0.01, y=0.98),
        sliders=[dict(active=len(students) - 1, steps=steps, currentvalue=dict(prefix="student after "), pad=dict(t=20))],
        updatemenus=[dict(type="buttons", buttons=[play], showactive=False, x=1.0, y=1.0,
                          xanchor="right", yanchor="bottom", direction="left")])
    return fig


def moving_average(values: Sequence[float], window: int) -> np.ndarray:
    """Trailing mean over up to ``window`` values (same length as ``values``)."""
    v = np.asarray(values, dtype=np.float64)
    if len(v) == 0:
        return v
    c = np.cumsum(np.insert(v, 0, 0.0))
    idx = np.arange(1, len(v) + 1)
    lo = np.maximum(0, idx - max(1, int(window)))
    return (c[idx] - c[lo]) / (idx - lo)


def live_loss_figure(losses: Sequence[float], snapshot_steps: Sequence[int] = (),
                     snapshot_losses: Sequence[float] = (), total_steps: int | None = None,
                     height: int = 320) -> go.Figure:
    """Training loss per step (faint), its moving average, and the plain-crop loss at each snapshot."""
    fig = go.Figure()
    steps = np.arange(1, len(losses) + 1)
    fig.add_trace(go.Scatter(x=steps, y=list(losses), mode="lines", name="loss per step (augmented batch)",
                             line=dict(color="#aaaaaa", width=1)))
    fig.add_trace(go.Scatter(x=steps, y=moving_average(losses, 10), mode="lines", name="moving average (10)",
                             line=dict(color=STUDENT_COLOR, width=2)))
    if len(snapshot_steps):
        fig.add_trace(go.Scatter(x=list(snapshot_steps), y=list(snapshot_losses), mode="markers",
                                 name="plain crop (snapshots)", marker=dict(color=TEACHER_COLOR, size=8)))
    fig.update_layout(height=height, xaxis=dict(title="step", range=[0, total_steps or max(1, len(losses))]),
                      yaxis=dict(title="loss", type="log"), margin=dict(l=60, r=20, t=40, b=50),
                      legend=dict(orientation="h", y=1.02, yanchor="bottom", x=1, xanchor="right"))
    return fig
