"""Save the figures a tab shows as PNG or standalone HTML (``sdpose_core.viz.export.save_figure``).

Every tab gets a *save* row under its figures (``save_row``): the browser sends back what its plots
show, and the server writes one file per figure for download. PNG is drawn by matplotlib from the
figure's data (no browser, no kaleido; sliders and hover are not drawn), HTML is plotly's own page
with plotly.js inlined (opens offline, stays interactive).
"""
from __future__ import annotations

import json
import re
import tempfile
import uuid
from pathlib import Path
from typing import Sequence

import gradio as gr
import plotly.graph_objects as go

from sdpose_core.viz.export import save_figure

from .ui import warn

FORMATS = {"PNG": ".png", "HTML": ".html"}
FOLDER = Path(tempfile.gettempdir()) / "sdpose-explorer-figures"
KEEP = 64  # saved files kept in FOLDER (the oldest go first; gradio serves its own copy)


def plots_in(block) -> list[gr.Plot]:
    """The gr.Plot components inside a layout block, in page order."""
    found = []
    for child in getattr(block, "children", []) or []:
        found += [child] if isinstance(child, gr.Plot) else plots_in(child)
    return found


def _slug(text: str | None, default: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", (text or "").lower()).strip("_")[:40] or default


def _prune(folder: Path, keep: int = KEEP) -> None:
    files = sorted(folder.glob("*"), key=lambda p: p.stat().st_mtime)
    for old in files[:-keep] if len(files) > keep else []:
        old.unlink(missing_ok=True)


def save_plots(fmt: str, payloads: Sequence, names: Sequence[str], folder: Path = FOLDER) -> list[str]:
    """Write each shown plotly figure (gr.Plot values; None = nothing drawn yet) as ``fmt`` (PNG or
    HTML) into ``folder``; returns the file paths. ValueError when nothing is drawn or ``fmt`` is not
    one of FORMATS."""
    if fmt not in FORMATS:
        raise ValueError(f"save as one of {', '.join(FORMATS)}, not {fmt!r}")
    folder.mkdir(parents=True, exist_ok=True)
    tag = uuid.uuid4().hex[:6]
    paths = []
    for payload, name in zip(payloads, names):
        if payload is None or getattr(payload, "type", "plotly") != "plotly":
            continue
        spec = payload.plot if hasattr(payload, "plot") else payload["plot"]
        fig = go.Figure(json.loads(spec) if isinstance(spec, str) else spec)
        paths.append(str(save_figure(fig, folder / f"{name}_{tag}{FORMATS[fmt]}")))
    if not paths:
        raise ValueError("nothing to save yet: draw the figures of this tab first")
    _prune(folder)
    return paths


def save_row(plots: Sequence[gr.Plot], tab: str) -> None:
    """A row under a tab's figures: PNG / HTML and a button that returns the files for download."""
    if not plots:
        return
    names = [f"{tab}_{i + 1}_{_slug(p.label, 'figure')}" for i, p in enumerate(plots)]
    with gr.Row():
        fmt = gr.Radio(list(FORMATS), value="PNG", label="save the figures above as", scale=1)
        button = gr.Button("Save figures", scale=1)
        files = gr.File(label="saved figures", file_count="multiple", interactive=False, scale=2)

    def handler(fmt, *payloads):
        try:
            return save_plots(fmt, payloads, names)
        except (ValueError, OSError) as err:
            warn(str(err))
            return None

    button.click(handler, [fmt, *plots], files, api_name=False)
