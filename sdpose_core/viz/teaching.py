"""Plotly figures for the tutorial notebooks: patches, sine positions, token similarity, loss
curves, SimCC distributions, the DWPose r(t) schedule, loss terms per recipe. Inputs are arrays; no model runs here."""
from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from sdpose_core.data.coco_meta import KEYPOINT_NAMES

from .common import MODEL_COLORS, image_trace, lock_aspect, style_image_axes


def use_notebook_renderer() -> str:
    """Render figures as plotly MIME bundles (JupyterLab, Notebook 7, VS Code; no network) and
    return the renderer name. Headless execution (nbclient) just stores the bundle."""
    import plotly.io as pio

    pio.renderers.default = "plotly_mimetype"
    return pio.renderers.default


class LiveDrawing:
    """One drawing of :func:`interact`, shown as an ``ipywidgets.Output`` whose ``outputs`` the kernel
    sets itself (never ``with output:`` capture), with the drawing's own MIME bundle beside the widget
    view in what ``display`` sends.

    A frontend with the widget manager (JupyterLab, Notebook 7, classic, VS Code) renders the widget
    and shows every redraw; one without it (``jupyter execute``, a static viewer) shows the first
    drawing from the bundle.
    """

    def __init__(self, item: Any):
        import ipywidgets as widgets

        self.view = widgets.Output()
        self.bundle: tuple[dict, dict] = ({}, {})
        self.update(item)

    def update(self, item: Any) -> None:
        """Replace the drawing (a widget state update: kernel to frontend, nothing comes back)."""
        self.bundle = _mime_bundle(item)
        data, metadata = self.bundle
        self.view.outputs = ({"output_type": "display_data", "data": data, "metadata": metadata},)

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> tuple[dict, dict]:
        data, metadata = self.bundle
        shown = {mime: value for mime, value in data.items() if value not in ("", None)}
        widget = self.view._repr_mimebundle_()  # its text/plain ('Output()') only when the item has none
        return {**widget, **shown}, metadata


def _mime_bundle(item: Any) -> tuple[dict, dict]:
    """(data, metadata) of ``item`` as the kernel's formatters would display it (matplotlib's PNG
    and any other registered formatter included), never published: an object's
    ``_ipython_display_`` (plotly figures have one) would display it itself and return nothing."""
    from IPython import get_ipython
    from IPython.core.formatters import DisplayFormatter

    shell = get_ipython()
    formatter = shell.display_formatter if shell is not None else DisplayFormatter()
    hook = formatter.ipython_display_formatter
    enabled, hook.enabled = hook.enabled, False
    try:
        return formatter.format(item)
    finally:
        hook.enabled = enabled


def interact(draw: Callable[..., Any], **controls: Any) -> None:
    """Widget controls above a drawing that ``draw(**values)`` redraws in place.

    Like ``ipywidgets.interact``, but ``draw`` *returns* what to show (a plotly figure, a
    ``Markdown``, anything ``display`` takes, or a tuple of them) instead of showing it; each item
    becomes a :class:`LiveDrawing` that a moved control updates.

    Why not ``ipywidgets.interact``: it draws into an ``Output`` widget *by capture*, and a frontend
    mirrors every captured output back to the kernel as a ``comm_msg`` on the shell channel
    (nbclient, which ``jupyter execute`` and nbmake use, does so while the cell is still running).
    Measured here with ipykernel 7.4 and ``jupyter execute``: notebook 02 then waited forever in 2
    runs of 4, kernel and client both idle (the lost shell wake-up of ipython/ipykernel#1554).
    Why not display ids (``display(item, display_id=True)`` then ``handle.update``), as this function
    did until session 10: in JupyterLab 4.6 the plots never redrew. A plotly figure's own
    ``_ipython_display_`` drops the display id, and a figure displayed as its raw MIME bundle under
    an id did not redraw from a widget callback either (one run of
    tests/test_notebook_widgets_browser.py's probe); Markdown updates did. Setting an Output
    widget's ``outputs`` from the kernel redraws both: state flows one way (kernel to frontend) and
    every widget frontend renders it.

    Args:
        draw: called with one keyword per control, returns the displayable(s).
        controls: ipywidgets value widgets, by ``draw``'s argument names.
    """
    import ipywidgets as widgets
    from IPython.display import Markdown, display

    for name, control in controls.items():
        if not getattr(control, "description", ""):
            control.description = name

    def current() -> list[Any]:
        shown = draw(**{name: control.value for name, control in controls.items()})
        return list(shown) if isinstance(shown, (tuple, list)) else [shown]

    display(widgets.VBox(list(controls.values())))
    drawings = [LiveDrawing(item) for item in current()]
    for drawing in drawings:
        display(drawing)

    def redraw(_change: Any) -> None:
        try:
            items = current()
        except Exception as error:  # the reader sees why, in place of the drawing
            items = [Markdown(f"**could not draw:** `{type(error).__name__}: {error}`")] * len(drawings)
        for drawing, item in zip(drawings, items):
            drawing.update(item)

    for control in controls.values():
        control.observe(redraw, names="value")


def _cell_box(grid_size: tuple[int, int], crop_hw: tuple[int, int], row: int, col: int) -> tuple[float, ...]:
    gh, gw = grid_size
    ch, cw = crop_hw[0] / gh, crop_hw[1] / gw
    return col * cw - 0.5, row * ch - 0.5, (col + 1) * cw - 0.5, (row + 1) * ch - 0.5


def patch_grid_figure(crop: np.ndarray, grid_size: tuple[int, int], highlight: int | None = None,
                      num_keypoints: int = len(KEYPOINT_NAMES), height: int = 460) -> go.Figure:
    """The network crop cut into its (gh, gw) patch grid; ``highlight`` (patch index, row-major)
    is outlined and labelled with its token index (K + patch)."""
    h, w = crop.shape[:2]
    gh, gw = grid_size
    fig = go.Figure(image_trace(crop))
    for r in range(gh + 1):
        y = r * h / gh - 0.5
        fig.add_shape(type="line", x0=-0.5, x1=w - 0.5, y0=y, y1=y, line=dict(color="white", width=1))
    for c in range(gw + 1):
        x = c * w / gw - 0.5
        fig.add_shape(type="line", x0=x, x1=x, y0=-0.5, y1=h - 0.5, line=dict(color="white", width=1))
    title = f"{gh}×{gw} = {gh * gw} patches of {h / gh:g}×{w / gw:g} input pixels"
    if highlight is not None:
        row, col = divmod(int(highlight), gw)
        x0, y0, x1, y1 = _cell_box(grid_size, (h, w), row, col)
        fig.add_shape(type="rect", x0=x0, y0=y0, x1=x1, y1=y1, line=dict(color="cyan", width=3))
        title += f"<br>patch {highlight} (row {row}, col {col}) = token {num_keypoints + int(highlight)}"
    style_image_axes(fig, height_px=h, width_px=w)
    lock_aspect(fig, 1)
    fig.update_layout(title=dict(text=title, x=0.5, xanchor="center", font_size=13), height=height,
                      margin=dict(l=10, r=10, t=70, b=10))
    return fig


def _cosine_rows(table: np.ndarray) -> np.ndarray:
    t = np.asarray(table, dtype=np.float64)
    t = t / np.maximum(np.linalg.norm(t, axis=-1, keepdims=True), 1e-12)
    return t @ t.T


def position_similarity_figure(pos_table: np.ndarray, grid_size: tuple[int, int], patch: int,
                               height: int = 400) -> go.Figure:
    """Left: the (N, D) sine table. Right: cosine similarity of patch ``patch``'s position vector
    to every patch, laid out on the (gh, gw) grid (nearby patches look alike)."""
    table = np.asarray(pos_table, dtype=np.float64).reshape(-1, np.asarray(pos_table).shape[-1])
    gh, gw = grid_size
    sim = _cosine_rows(table)[int(patch)].reshape(gh, gw)
    row, col = divmod(int(patch), gw)
    fig = make_subplots(rows=1, cols=2, column_widths=[0.55, 0.45], horizontal_spacing=0.12,
                        subplot_titles=[f"sine table: {table.shape[0]} patches × {table.shape[1]} dims",
                                        f"cos(pos[{patch}], pos[j]) on the {gh}×{gw} grid"])
    fig.add_trace(go.Heatmap(z=table, colorscale="RdBu_r", zmin=-1, zmax=1, colorbar=dict(x=0.5, thickness=10),
                             hovertemplate="patch %{y}, dim %{x}: %{z:.3f}<extra></extra>"), row=1, col=1)
    fig.add_trace(go.Heatmap(z=sim, colorscale="Viridis", colorbar=dict(thickness=10),
                             hovertemplate="row %{y}, col %{x}: %{z:.3f}<extra></extra>"), row=1, col=2)
    fig.add_trace(go.Scatter(x=[col], y=[row], mode="markers", showlegend=False,
                             marker=dict(symbol="x", size=12, color="red")), row=1, col=2)
    fig.update_xaxes(title_text="dimension (y features first, then x)", row=1, col=1)
    fig.update_yaxes(title_text="patch (row-major)", autorange="reversed", row=1, col=1)
    fig.update_yaxes(autorange="reversed", scaleanchor="x2", row=1, col=2)
    fig.update_layout(height=height, margin=dict(l=60, r=10, t=60, b=50))
    return fig


def token_similarity_figure(tokens: np.ndarray, names: Sequence[str] = KEYPOINT_NAMES, title: str = "",
                            height: int = 460) -> go.Figure:
    """Cosine similarity between every pair of (K, D) keypoint tokens."""
    sim = _cosine_rows(tokens)
    names = list(names)[: sim.shape[0]]
    fig = go.Figure(go.Heatmap(z=sim, x=names, y=names, colorscale="RdBu_r", zmin=-1, zmax=1,
                               hovertemplate="%{y} · %{x}: %{z:.3f}<extra></extra>",
                               colorbar=dict(title="cos", thickness=10)))
    fig.update_yaxes(autorange="reversed")
    fig.update_layout(title=dict(text=title or "cosine similarity of keypoint tokens", x=0.5, xanchor="center"),
                      height=height, xaxis_tickangle=-45, margin=dict(l=110, r=10, t=60, b=110))
    return fig


def loss_curves_figure(runs: Mapping[str, Sequence[Mapping[str, float]]], keys: Sequence[str] = ("total",),
                       log_y: bool = True, smooth: int = 1, height: int = 360, title: str = "",
                       x_key: str = "step", x_title: str = "step") -> go.Figure:
    """Loss terms against the training step, one line per (run, key).

    Args:
        runs: name -> per-step dicts (e.g. ``TrainLog.steps``); a step lacking a key is skipped.
        x_key: the dict entry used as x (its position when absent).
        smooth: moving-average window in steps (1 = raw).
    """
    fig = go.Figure()
    dashes = ("solid", "dash", "dot", "dashdot", "longdash")
    for i, (name, steps) in enumerate(runs.items()):
        for j, key in enumerate(keys):
            pts = [(s.get(x_key, n), s[key]) for n, s in enumerate(steps) if key in s]
            if not pts:
                continue
            x, y = (np.asarray(v, dtype=np.float64) for v in zip(*pts))
            if smooth > 1 and len(y) >= smooth:
                y = np.convolve(y, np.ones(smooth) / smooth, mode="valid")
                x = x[smooth - 1:]
            label = name if len(keys) == 1 else f"{name}: {key}"
            fig.add_trace(go.Scatter(x=x, y=y, mode="lines", name=label,
                                     line=dict(color=MODEL_COLORS[i % len(MODEL_COLORS)], dash=dashes[j % 5])))
    fig.update_layout(height=height, xaxis_title=x_title, yaxis_title=" / ".join(keys),
                      yaxis_type="log" if log_y else "linear",
                      title=dict(text=title, x=0.5, xanchor="center") if title else None,
                      margin=dict(l=60, r=10, t=60 if title else 30, b=50),
                      legend=dict(orientation="h", y=1.02, yanchor="bottom", x=1, xanchor="right"))
    return fig


def simcc_axes_figure(x_curves: Mapping[str, np.ndarray], y_curves: Mapping[str, np.ndarray],
                      split_ratio: float, marks: Mapping[str, tuple[float, float]] | None = None,
                      height: int = 340, title: str = "") -> go.Figure:
    """SimCC's two 1-D classifications: curves over the x bins (left) and y bins (right).

    Args:
        x_curves / y_curves: name -> (bins,) values (labels, probabilities ...), same names.
        split_ratio: bins per input pixel; the top axes read in input pixels.
        marks: name -> (x, y) in input pixels, drawn as vertical lines (e.g. the label, the decode).
    """
    fig = make_subplots(rows=1, cols=2, subplot_titles=["x axis", "y axis"], horizontal_spacing=0.08)
    for i, name in enumerate(x_curves):
        color = MODEL_COLORS[i % len(MODEL_COLORS)]
        for col, curves in ((1, x_curves), (2, y_curves)):
            v = np.asarray(curves[name], dtype=np.float64)
            fig.add_trace(go.Scatter(x=np.arange(len(v)), y=v, mode="lines", name=name, legendgroup=name,
                                     showlegend=col == 1, line=dict(color=color)), row=1, col=col)
    for i, (name, (mx, my)) in enumerate((marks or {}).items()):
        for col, value in ((1, mx), (2, my)):
            fig.add_vline(x=value * split_ratio, line=dict(color="black", dash=("dot", "dash")[i % 2], width=1),
                          annotation_text=name if col == 1 else None, row=1, col=col)
    fig.update_xaxes(title_text=f"bin (= {split_ratio:g} × input pixel)")
    fig.update_layout(height=height, margin=dict(l=50, r=10, t=70 if title else 50, b=50),
                      title=dict(text=title, x=0.5, xanchor="center") if title else None,
                      legend=dict(orientation="h", y=-0.25, x=0.5, xanchor="center"))
    return fig


def decay_schedule_figure(epochs: Sequence[int], decay: Sequence[float], current: int | None = None,
                          height: int = 300) -> go.Figure:
    """DWPose's stage-1 distillation weight r(e) against the (0-based) epoch."""
    fig = go.Figure(go.Scatter(x=list(epochs), y=list(decay), mode="lines+markers", name="r(e)",
                               marker=dict(size=4)))
    if current is not None:
        fig.add_trace(go.Scatter(x=[current], y=[list(decay)[list(epochs).index(current)]], mode="markers",
                                 name=f"epoch {current}", marker=dict(size=12, color="red", symbol="x")))
    fig.update_layout(height=height, xaxis_title="epoch e (0-based)", yaxis_title="r(e) = 1 − e / E",
                      yaxis_range=[0, 1.05], margin=dict(l=60, r=10, t=30, b=50), showlegend=False)
    return fig


def loss_terms_figure(terms: Mapping[str, Mapping[str, float]], skip: Sequence[str] = ("total",),
                      log_y: bool = True, height: int = 380, title: str = "") -> go.Figure:
    """Bars of the loss terms of several objectives on one batch: one colour per objective
    (e.g. recipe), its terms side by side under its name (a two-level x axis). Terms named in
    ``skip`` are left out; on a log axis a term <= 0 is drawn at the axis floor and its hover
    text keeps the value."""
    fig = go.Figure()
    for i, (name, values) in enumerate(terms.items()):
        keys = [k for k in values if k not in skip]
        y = np.array([float(values[k]) for k in keys], dtype=np.float64)
        fig.add_trace(go.Bar(x=[[name] * len(keys), keys], y=y, name=name, customdata=y,
                             marker_color=MODEL_COLORS[i % len(MODEL_COLORS)],
                             hovertemplate="%{x}: %{customdata:.4g}<extra></extra>"))
    fig.update_layout(height=height, yaxis_title="value (log)" if log_y else "value",
                      yaxis_type="log" if log_y else "linear", showlegend=False, xaxis_tickangle=-30,
                      title=dict(text=title, x=0.5, xanchor="center") if title else None,
                      margin=dict(l=60, r=10, t=60 if title else 30, b=120))
    return fig


def keypoint_bars_figure(values: Mapping[str, np.ndarray], yaxis_title: str, occluded: np.ndarray | None = None,
                         height: int = 320) -> go.Figure:
    """Grouped bars of one number per keypoint (one series per name, e.g. per model); keypoints
    flagged in ``occluded`` get "(occl.)" after their name."""
    fig = go.Figure()
    names = list(KEYPOINT_NAMES)
    if occluded is not None:
        names = [f"{n} (occl.)" if o else n for n, o in zip(names, occluded)]
    for i, (label, v) in enumerate(values.items()):
        fig.add_trace(go.Bar(x=names, y=np.asarray(v, dtype=float), name=label,
                             marker_color=MODEL_COLORS[i % len(MODEL_COLORS)]))
    fig.update_layout(barmode="group", height=height, yaxis_title=yaxis_title, xaxis_tickangle=-45,
                      margin=dict(l=60, r=10, t=40, b=110),
                      legend=dict(orientation="h", y=1.02, yanchor="bottom", x=1, xanchor="right"))
    return fig


def overlay_figure(crop: np.ndarray, maps: Sequence[np.ndarray], titles: Sequence[str],
                   points: Sequence[np.ndarray | None] | None = None, colorscale: str = "Inferno",
                   colorbar_title: str = "attribution", height: int = 420) -> go.Figure:
    """Small multiples: the crop with an (H, W) or (gh, gw) map stretched over it, one colour scale.

    Args:
        points: per panel an optional (2,) crop-pixel point drawn as a cyan cross.
    """
    h, w = crop.shape[:2]
    n = max(1, len(maps))
    fig = make_subplots(rows=1, cols=n, subplot_titles=list(titles), horizontal_spacing=0.03)
    hi = float(max(np.max(m) for m in maps)) if maps else 1.0
    for i, m in enumerate(maps, start=1):
        m = np.asarray(m, dtype=np.float64)
        ch, cw = h / m.shape[0], w / m.shape[1]
        fig.add_trace(image_trace(crop), row=1, col=i)
        fig.add_trace(go.Heatmap(z=m, x0=(cw - 1) / 2, dx=cw, y0=(ch - 1) / 2, dy=ch, colorscale=colorscale,
                                 zmin=0, zmax=hi, opacity=0.6, showscale=i == n,
                                 colorbar=dict(title=colorbar_title, thickness=10, len=0.8),
                                 hovertemplate="(%{x:.0f}, %{y:.0f}) %{z:.3f}<extra></extra>"), row=1, col=i)
        p = None if points is None else points[i - 1]
        if p is not None:
            fig.add_trace(go.Scatter(x=[p[0]], y=[p[1]], mode="markers", showlegend=False,
                                     marker=dict(symbol="x", size=12, color="cyan", line=dict(width=2))),
                          row=1, col=i)
        style_image_axes(fig, row=1, col=i, height_px=h, width_px=w)
    lock_aspect(fig, n)
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=60, b=10))
    return fig
