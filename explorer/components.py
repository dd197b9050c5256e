"""gr.Image that hands the raw upload path to the app instead of decoding it itself.

Gradio's own preprocessing opens the file with PIL before any handler runs, so a corrupt or
non-image upload would fail with a generic error. Here the path goes straight to
``sdpose_core.io.images.load_user_image``, which explains what is wrong.

Gradio writes a typing stub (``components.pyi``) beside every Component subclass it imports; the
stub is generated, so git ignores it.
"""
from __future__ import annotations

import gradio as gr


class PhotoInput(gr.Image):
    """An image upload box whose value is the uploaded file's path, unread."""

    def get_block_name(self) -> str:  # reuse the ordinary image widget in the browser
        return "image"

    def preprocess(self, payload):  # noqa: D102
        if payload is None:
            return None
        return getattr(payload, "path", None) or getattr(payload, "url", None)


def photo_input(**kwargs) -> PhotoInput:
    """``PhotoInput(type='filepath', **kwargs)``."""
    return PhotoInput(type="filepath", **kwargs)
