"""Shared plotly helpers: an image in pixel coordinates, axis styling, colours."""
from __future__ import annotations

import base64
import io

import numpy as np
import plotly.graph_objects as go
from PIL import Image

MODEL_COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e")
CONFIDENCE_SCALE = "Viridis"
PNG_PREFIX = "data:image/png;base64,"


def png_source(image: np.ndarray) -> str:
    """An (H, W, 3 | 4) uint8 image as a PNG data URI (what go.Image's ``source`` takes)."""
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(image, dtype=np.uint8)).save(buffer, format="PNG", compress_level=1)
    return PNG_PREFIX + base64.b64encode(buffer.getvalue()).decode("ascii")


def source_array(source: str) -> np.ndarray:
    """The pixels of a PNG data URI (``png_source``'s inverse): (H, W, 3 | 4) uint8."""
    if not source.startswith(PNG_PREFIX):
        raise ValueError("only PNG data URIs (data:image/png;base64,...) are read")
    with Image.open(io.BytesIO(base64.b64decode(source[len(PNG_PREFIX):]))) as im:
        return np.asarray(im.convert("RGBA" if im.mode in ("RGBA", "LA", "P") else "RGB"))


def image_trace(image: np.ndarray, name: str = "image") -> go.Image:
    """An RGB uint8 image whose pixel centres sit on integer coordinates (COCO convention).

    The pixels travel as a PNG data URI (``source``), not as a nested ``z`` list: a fraction of the
    JSON, and the browser draws it several times faster (``source_array`` reads it back)."""
    return go.Image(source=png_source(np.asarray(image, dtype=np.uint8)), x0=0, dx=1, y0=0, dy=1, name=name,
                    hoverinfo="x+y")


def image_pixels(trace) -> np.ndarray:
    """The pixels of an image trace (a go.Image or its dict), from ``z`` or a PNG ``source``."""
    get = trace.get if isinstance(trace, dict) else (lambda key: getattr(trace, key, None))
    z = get("z")
    return np.asarray(z, dtype=np.uint8) if z is not None else source_array(get("source"))


def style_image_axes(fig: go.Figure, row: int | None = None, col: int | None = None,
                     height_px: int | None = None, width_px: int | None = None) -> None:
    """Square pixels, y down, no grid, for one subplot (or the only one)."""
    kw = {} if row is None else dict(row=row, col=col)
    fig.update_xaxes(showgrid=False, zeroline=False, visible=False, constrain="domain",
                     **({"range": [-0.5, width_px - 0.5]} if width_px else {}), **kw)
    fig.update_yaxes(showgrid=False, zeroline=False, visible=False, autorange=None if height_px else "reversed",
                     **({"range": [height_px - 0.5, -0.5]} if height_px else {}), **kw)


def lock_aspect(fig: go.Figure, count: int) -> None:
    """Tie every subplot's y axis to its x axis (square pixels)."""
    for i in range(1, count + 1):
        suffix = "" if i == 1 else str(i)
        fig.layout[f"yaxis{suffix}"].scaleanchor = f"x{suffix}"
        fig.layout[f"yaxis{suffix}"].scaleratio = 1


def empty_figure(message: str) -> go.Figure:
    """A blank figure that shows a message (no data yet, or something went wrong)."""
    fig = go.Figure()
    fig.add_annotation(text=message, showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper",
                       font=dict(size=14))
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    fig.update_layout(height=260, margin=dict(l=10, r=10, t=10, b=10))
    return fig


def titled(fig: go.Figure, text: str) -> go.Figure:
    """``fig`` with ``text`` as the first line of its title (e.g. which snapshot drew it), above any
    title it had. The figure grows by the room the line takes (plots keep their size), and the line
    sits 30 px below the top edge, clear of a widget label drawn over the corner. Returns ``fig``."""
    if not text:
        return fig
    old = fig.layout.title.text
    extra = 52 + (20 if old else 0)
    top = fig.layout.margin.t
    fig.update_layout(title=dict(text=f"<b>{text}</b>" + (f"<br>{old}" if old else ""), x=0.5, xanchor="center",
                                 yref="container", y=1, yanchor="top", pad=dict(t=30), font=dict(size=13)),
                      margin=dict(t=(70 if top is None else top) + extra))
    if fig.layout.height is not None:
        fig.update_layout(height=fig.layout.height + extra)
    return fig
