"""Save any plotly figure of the project as standalone HTML or as a PNG, offline and without kaleido.

HTML is plotly's own ``write_html`` with plotly.js inlined (opens with no network). PNG is drawn
by matplotlib (Agg, no pyplot state) from the figure's data: the trace types the project's figure
builders use (image, heatmap, scatter, bar), subplot domains, overlaid axes, axis titles / ranges /
log / reversed, subplot titles and other annotations, h/v lines and rectangles, a legend. Hidden
traces (a slider's other steps) stay hidden. Interactive parts (sliders, hover) are not drawn.
"""
from __future__ import annotations

import base64
import html
import re
from pathlib import Path
from typing import Any

import numpy as np
import plotly.graph_objects as go
from plotly.colors import get_colorscale, qualitative, unlabel_rgb

from .common import image_pixels

DEFAULT_WIDTH, DEFAULT_HEIGHT = 900, 450  # px, when the figure leaves them to the browser
_MARGIN = {"l": 80, "r": 80, "t": 100, "b": 80}  # plotly's defaults
_DASH = {"dash": "--", "dot": ":", "dashdot": "-.", "longdash": "--", "solid": "-"}
_SYMBOL = {"x": "x", "cross": "P", "square": "s", "diamond": "D", "triangle-up": "^", "circle": "o"}


def save_figure(fig: go.Figure, path: str | Path, width: int | None = None, height: int | None = None) -> Path:
    """Write ``fig`` as ``.html`` (standalone, plotly.js inlined) or ``.png`` (matplotlib), by suffix."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in (".html", ".htm"):
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.write_html(str(path), include_plotlyjs=True, full_html=True)
        return path
    if suffix == ".png":
        return figure_to_png(fig, path, width, height)
    raise ValueError(f"{path}: save as .png or .html")


def _color(value: Any, default: str = "#1f77b4") -> Any:
    """A plotly colour (name, '#hex', 'rgb(...)', 'rgba(...)') as something matplotlib reads."""
    if not isinstance(value, str):
        return default
    if value.startswith("rgb"):
        parts = [float(v) for v in re.findall(r"[\d.]+", value)]
        rgb = [p / 255.0 for p in parts[:3]]
        return tuple(rgb + ([parts[3]] if len(parts) > 3 else []))
    return value


def _colormap(scale: Any):
    """A plotly colour scale (name or [[pos, colour], ...]) as a matplotlib colormap."""
    from matplotlib.colors import LinearSegmentedColormap

    stops = get_colorscale(scale) if isinstance(scale, str) else (scale or get_colorscale("Plasma"))
    colors = [(float(pos), _color(c) if not str(c).startswith("rgb") else tuple(np.array(unlabel_rgb(c)) / 255.0))
              for pos, c in stops]
    return LinearSegmentedColormap.from_list("plotly", colors)


def _decode(value: Any) -> Any:
    """``fig.to_dict()`` with plotly's base64 typed arrays ({'dtype', 'bdata', 'shape'}) as numpy arrays."""
    if isinstance(value, dict):
        if "bdata" in value and "dtype" in value:
            arr = np.frombuffer(base64.b64decode(value["bdata"]), dtype=np.dtype(value["dtype"]))
            shape = [int(v) for v in str(value.get("shape", len(arr))).split(",")]
            return arr.reshape(shape)
        return {k: _decode(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_decode(v) for v in value]
    return value


def _text(value: Any) -> str:
    """Plotly rich text as plain text: <br> to newlines, other tags dropped, entities decoded."""
    text = re.sub(r"<br\s*/?>", "\n", str(value or ""))
    return html.unescape(re.sub(r"<[^>]+>", "", text))


def _values(seq: Any) -> np.ndarray:
    """A coordinate array with None as NaN (plotly's line breaks)."""
    return np.array([np.nan if v is None else v for v in np.asarray(seq, dtype=object).ravel()], dtype=object)


class _Axes:
    """The matplotlib axes of each plotly (xaxis, yaxis) pair, placed by the layout's domains."""

    def __init__(self, mfig, layout: dict, box: tuple[float, float, float, float]):
        self.mfig, self.layout, self.box = mfig, layout, box
        self.axes: dict[tuple[str, str], Any] = {}
        self.categories: dict[str, list] = {}
        self.colorbars: list[tuple[Any, Any, str]] = []  # (mappable, axes, title), drawn once axes are final
        self._colors = 0

    def next_color(self) -> str:
        """Plotly's default colour way, one colour per trace that names none (across overlaid axes too)."""
        self._colors += 1
        return qualitative.Plotly[(self._colors - 1) % len(qualitative.Plotly)]

    def draw_colorbars(self) -> None:
        """A thin bar right of each axes (after its aspect is applied); the axes keep their size."""
        for mappable, ax, title in self.colorbars:
            ax.apply_aspect()
            pos = ax.get_position()
            bar = self.mfig.colorbar(mappable, cax=self.mfig.add_axes([pos.x1 + 0.008, pos.y0, 0.012, pos.height]))
            bar.ax.tick_params(labelsize=7)
            bar.set_label(title, fontsize=8)

    def axis_layout(self, ref: str) -> dict:
        """Layout dict of axis 'x', 'x2', 'y3' ..."""
        return self.layout.get(f"{ref[0]}axis{ref[1:]}", {}) or {}

    def get(self, xref: str, yref: str):
        key = (xref, yref)
        if key not in self.axes:
            left, bottom, width, height = self.box
            xd = self.axis_layout(xref).get("domain", [0, 1])
            ylay = self.axis_layout(yref)
            base = ylay.get("overlaying")
            if base:
                ax = self.get(xref, base).twinx()
            else:
                yd = ylay.get("domain", [0, 1])
                ax = self.mfig.add_axes([left + xd[0] * width, bottom + yd[0] * height,
                                         (xd[1] - xd[0]) * width, (yd[1] - yd[0]) * height])
            self.axes[key] = ax
        return self.axes[key]

    def numeric(self, ref: str, values: Any) -> np.ndarray:
        """Axis coordinates as floats; strings become category positions 0, 1, ... (kept per axis)."""
        vals = _values(values)
        if any(isinstance(v, str) for v in vals):
            cats = self.categories.setdefault(ref, [])
            for v in vals:
                if v not in cats:
                    cats.append(v)
            return np.array([cats.index(v) for v in vals], dtype=float)
        return vals.astype(float)

    def paper_to_figure(self, x: float, y: float) -> tuple[float, float]:
        left, bottom, width, height = self.box
        return left + x * width, bottom + y * height


# ----------------------------------------------------------------------------- traces

def _draw_image(ax, tr: dict, axes: _Axes) -> None:
    z = image_pixels(tr)  # (H, W, 3 | 4), from z or a PNG source
    x0, dx, y0, dy = tr.get("x0", 0), tr.get("dx", 1), tr.get("y0", 0), tr.get("dy", 1)
    h, w = z.shape[:2]
    ax.imshow(z, extent=(x0 - dx / 2, x0 + (w - 0.5) * dx, y0 + (h - 0.5) * dy, y0 - dy / 2),
              interpolation="nearest", aspect="auto")


def _grid_edges(n: int, coords: np.ndarray | None, start: float, step: float) -> np.ndarray:
    """n + 1 cell edges around n cell centres (given, or start + i * step)."""
    centres = coords if coords is not None else start + step * np.arange(n, dtype=float)
    if n == 1:
        return np.array([centres[0] - step / 2, centres[0] + step / 2])
    mids = (centres[1:] + centres[:-1]) / 2
    return np.concatenate([[2 * centres[0] - mids[0]], mids, [2 * centres[-1] - mids[-1]]])


def _draw_heatmap(ax, tr: dict, axes: _Axes, xref: str, yref: str) -> None:
    z = np.array(tr["z"], dtype=float)  # (ny, nx)
    ny, nx = z.shape
    xs = axes.numeric(xref, tr["x"]) if tr.get("x") is not None else None
    ys = axes.numeric(yref, tr["y"]) if tr.get("y") is not None else None
    mesh = ax.pcolormesh(_grid_edges(nx, xs, tr.get("x0", 0), tr.get("dx", 1)),
                         _grid_edges(ny, ys, tr.get("y0", 0), tr.get("dy", 1)), np.ma.masked_invalid(z),
                         cmap=_colormap(tr.get("colorscale")), alpha=tr.get("opacity", 1.0),
                         vmin=tr.get("zmin"), vmax=tr.get("zmax"), shading="flat")
    if tr.get("showscale", True) is not False:
        title = (tr.get("colorbar") or {}).get("title") or {}
        axes.colorbars.append((mesh, ax, _text(title.get("text") if isinstance(title, dict) else title)))


def _draw_scatter(ax, tr: dict, axes: _Axes, xref: str, yref: str) -> None:
    if tr.get("x") is None or tr.get("y") is None:
        return
    x, y = axes.numeric(xref, tr["x"]), axes.numeric(yref, tr["y"])
    mode = tr.get("mode") or ("lines+markers" if len(x) < 20 else "lines")
    line, marker = tr.get("line") or {}, tr.get("marker") or {}
    label = tr.get("name") if tr.get("showlegend", True) is not False else None
    color = _color(line.get("color"), None) or _color(marker.get("color") if isinstance(marker.get("color"), str)
                                                       else None, None) or axes.next_color()
    if "lines" in mode:
        ax.plot(x, y, color=color, linewidth=line.get("width", 2) * 0.75, label=label,
                linestyle=_DASH.get(line.get("dash") or "solid", "-"))
        label = None
    if "markers" in mode:
        symbol = str(marker.get("symbol") or "circle")
        hollow = symbol.endswith("-open")
        kw = dict(marker=_SYMBOL.get(symbol.replace("-open", ""), "o"), s=(marker.get("size") or 6) ** 2 * 0.6,
                  label=label, zorder=3)
        mc = marker.get("color")
        if mc is not None and not isinstance(mc, str) and np.size(mc) == len(x):
            kw.update(c=np.asarray(mc, dtype=float), cmap=_colormap(marker.get("colorscale")),
                      vmin=marker.get("cmin"), vmax=marker.get("cmax"))
        else:
            kw["color"] = _color(mc, color or "#1f77b4")
        edge = _color((marker.get("line") or {}).get("color"), None)
        if hollow:
            kw = {**kw, "facecolors": "none", "edgecolors": kw.pop("color", edge or "black")}
        elif edge is not None and kw["marker"] not in ("x", "P"):
            kw["edgecolors"] = edge
        ax.scatter(x, y, **kw)
    if "text" in mode and tr.get("text") is not None:
        for xi, yi, t in zip(x, y, np.ravel(tr["text"])):
            ax.annotate(_text(t), (xi, yi), fontsize=7, ha="center", va="bottom")


def _draw_bars(ax, bars: list[dict], axes: _Axes, xref: str, yref: str, grouped: bool) -> None:
    width = 0.8 / (len(bars) if grouped else 1)
    for i, tr in enumerate(bars):
        x = axes.numeric(xref, tr["x"])
        offset = (i - (len(bars) - 1) / 2) * width if grouped else 0.0
        color = (tr.get("marker") or {}).get("color")
        ax.bar(x + offset, np.asarray(tr["y"], dtype=float), width=width, label=tr.get("name"),
               color=_color(color) if isinstance(color, str) else axes.next_color())


# ----------------------------------------------------------------------------- layout

def _style_axis(ax, axes: _Axes, ref: str) -> None:
    """Title, type, range, direction, visibility and category labels of one plotly axis."""
    lay, which = axes.axis_layout(ref), ref[0]
    title = lay.get("title") or {}
    set_label = ax.set_xlabel if which == "x" else ax.set_ylabel
    set_label(_text(title.get("text") if isinstance(title, dict) else title), fontsize=9)
    if lay.get("type") == "log":
        (ax.set_xscale if which == "x" else ax.set_yscale)("log")
    if lay.get("range") is not None:
        (ax.set_xlim if which == "x" else ax.set_ylim)(*lay["range"])
    elif lay.get("autorange") == "reversed":
        (ax.invert_xaxis if which == "x" else ax.invert_yaxis)()
    cats = axes.categories.get(ref)
    if cats:
        (ax.set_xticks if which == "x" else ax.set_yticks)(range(len(cats)))
        labels = [_text(c) for c in cats]
        if which == "x":
            ax.set_xticklabels(labels, rotation=-(lay.get("tickangle") or 0) or (45 if len(cats) > 6 else 0),
                               ha="right" if len(cats) > 6 else "center", fontsize=7)
        else:
            ax.set_yticklabels(labels, fontsize=7)
    if lay.get("showticklabels") is False:
        ax.tick_params(axis=which, labelbottom=False, labelleft=False)
    if lay.get("visible") is False:
        (ax.xaxis if which == "x" else ax.yaxis).set_visible(False)
        for side in (("bottom", "top") if which == "x" else ("left", "right")):
            ax.spines[side].set_visible(False)


def _draw_shape(axes: _Axes, shape: dict) -> None:
    """h/v lines (``add_hline`` / ``add_vline``), plain lines and rectangles in axis coordinates."""
    xref, yref = str(shape.get("xref", "x")), str(shape.get("yref", "y"))
    ax = axes.axes.get((xref.split()[0], yref.split()[0]))
    if ax is None or shape.get("type") not in ("line", "rect"):
        return
    line = shape.get("line") or {}
    kw = dict(color=_color(line.get("color"), "#444444"), linestyle=_DASH.get(line.get("dash") or "solid", "-"),
              linewidth=(line.get("width") or 2) * 0.75)
    x0, x1, y0, y1 = (shape.get(k, 0) for k in ("x0", "x1", "y0", "y1"))
    if shape["type"] == "line" and yref.endswith("domain"):
        ax.axvline(x0, ymin=y0, ymax=y1, **kw)
    elif shape["type"] == "line" and xref.endswith("domain"):
        ax.axhline(y0, xmin=x0, xmax=x1, **kw)
    elif shape["type"] == "line":
        ax.plot([x0, x1], [y0, y1], **kw)
    else:
        from matplotlib.patches import Rectangle

        ax.add_patch(Rectangle((min(x0, x1), min(y0, y1)), abs(x1 - x0), abs(y1 - y0), fill=False, **kw))


def _draw_annotation(axes: _Axes, note: dict) -> None:
    """Paper-referenced text (subplot titles) on the figure; axis-referenced text on its axes."""
    text = _text(note.get("text"))
    xref, yref = str(note.get("xref", "paper")), str(note.get("yref", "paper"))
    ha = {"left": "left", "right": "right"}.get(note.get("xanchor"), "center")
    va = {"bottom": "bottom", "top": "top"}.get(note.get("yanchor"), "center")
    if xref == "paper" and yref == "paper":
        axes.mfig.text(*axes.paper_to_figure(note.get("x", 0.5), note.get("y", 0.5)), text, ha=ha, va=va, fontsize=10)
        return
    ax = axes.axes.get((xref.split()[0], yref.split()[0]))
    if ax is not None:
        transform = ax.transAxes if xref.endswith("domain") and yref.endswith("domain") else (
            ax.get_yaxis_transform() if xref.endswith("domain") else
            ax.get_xaxis_transform() if yref.endswith("domain") else ax.transData)
        ax.text(note.get("x", 0), note.get("y", 0), text, transform=transform, ha=ha, va=va, fontsize=8)


def figure_to_png(fig: go.Figure, path: str | Path, width: int | None = None, height: int | None = None,
                  dpi: int = 100) -> Path:
    """Draw a plotly figure with matplotlib into a PNG of (width x height) px (default: the layout's)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    spec = _decode(fig.to_dict())
    layout, traces = spec.get("layout", {}), spec.get("data", [])
    w, h = width or layout.get("width") or DEFAULT_WIDTH, height or layout.get("height") or DEFAULT_HEIGHT
    margin = {**_MARGIN, **(layout.get("margin") or {})}
    legend_side = _legend_side(layout, traces)
    # plotly grows its margins for colour bars and a side legend (automargin): make the same room
    if any(t.get("type") == "heatmap" and t.get("showscale", True) is not False for t in traces):
        margin["r"] = max(margin["r"], 90)
    if any(isinstance(v, dict) and v.get("overlaying") for k, v in layout.items() if k.startswith("yaxis")):
        margin["r"] = max(margin["r"], 90)  # room for the overlaid axis' ticks and title on the right
    if legend_side == "right":
        margin["r"] = max(margin["r"], 150)
    mfig = Figure(figsize=(w / dpi, h / dpi), dpi=dpi, facecolor="white")
    FigureCanvasAgg(mfig)
    box = (margin["l"] / w, margin["b"] / h, 1 - (margin["l"] + margin["r"]) / w, 1 - (margin["t"] + margin["b"]) / h)
    axes = _Axes(mfig, layout, box)
    bars: dict[tuple[str, str], list[dict]] = {}
    for tr in traces:
        if tr.get("visible", True) in (False, "legendonly"):
            continue
        xref, yref = tr.get("xaxis", "x"), tr.get("yaxis", "y")
        ax = axes.get(xref, yref)
        kind = tr.get("type", "scatter")
        if kind == "image":
            _draw_image(ax, tr, axes)
        elif kind == "heatmap":
            _draw_heatmap(ax, tr, axes, xref, yref)
        elif kind in ("scatter", "scattergl"):
            _draw_scatter(ax, tr, axes, xref, yref)
        elif kind == "bar":
            bars.setdefault((xref, yref), []).append(tr)
    for (xref, yref), group in bars.items():
        _draw_bars(axes.get(xref, yref), group, axes, xref, yref, layout.get("barmode", "group") == "group")
    for (xref, yref), ax in axes.axes.items():
        _style_axis(ax, axes, xref)
        _style_axis(ax, axes, yref)
        if (axes.axis_layout(yref).get("scaleanchor") or "").startswith("x"):
            ax.set_aspect("equal", adjustable="box")
        ax.tick_params(which="both", labelsize=7)
    axes.draw_colorbars()
    for shape in layout.get("shapes", []):
        _draw_shape(axes, shape)
    for note in layout.get("annotations", []):
        _draw_annotation(axes, note)
    _legend_and_title(mfig, axes, layout, legend_side)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    mfig.savefig(path, dpi=dpi, facecolor="white")
    return path


def _legend_side(layout: dict, traces: list[dict]) -> str | None:
    """'right' (plotly's default, outside the plot), 'top' (a horizontal legend) or None (no legend)."""
    named = [t for t in traces if t.get("name") and t.get("showlegend", True) is not False
             and t.get("visible", True) not in (False, "legendonly") and t.get("type", "scatter") in ("scatter", "bar")]
    if len(named) < 2 or layout.get("showlegend", True) is False:
        return None
    return "top" if (layout.get("legend") or {}).get("orientation") == "h" else "right"


def _legend_and_title(mfig, axes: _Axes, layout: dict, side: str | None) -> None:
    handles, labels = [], []
    for ax in axes.axes.values():
        for handle, label in zip(*ax.get_legend_handles_labels()):
            if label and not label.startswith("_") and label not in labels:
                handles.append(handle)
                labels.append(label)
    if side and labels:
        left, bottom, width, height = axes.box
        anchor = (left + width + 0.01, bottom + height) if side == "right" else (left + width, bottom + height + 0.005)
        mfig.legend(handles, labels, loc="upper left" if side == "right" else "lower right", bbox_to_anchor=anchor,
                    fontsize=7, frameon=False, ncol=1 if side == "right" else min(len(labels), 4))
    title = layout.get("title") or {}
    text = title.get("text") if isinstance(title, dict) else title
    if text:
        mfig.suptitle(_text(text), fontsize=11)
