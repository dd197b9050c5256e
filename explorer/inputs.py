"""Reading the shared inputs of every tab: the photo, the optional person box, the examples."""
from __future__ import annotations

import json
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np

from sdpose_core.io.images import load_user_image

EXAMPLE_DIR = Path(__file__).resolve().parents[1] / "data_samples" / "synthpose_val"
_IMAGES: OrderedDict[tuple, np.ndarray] = OrderedDict()


def read_image(source: Any) -> np.ndarray:
    """The uploaded photo as RGB uint8 (a path from gr.Image(type='filepath'), or an array).

    Raises ValueError with a readable message for missing, bad or oversize uploads.
    """
    if source is None or (isinstance(source, str) and not source.strip()):
        raise ValueError("no image: upload a photo or pick an example first")
    if isinstance(source, dict):  # gradio FileData-like payloads
        source = source.get("path") or source.get("name")
    if isinstance(source, (str, Path)):
        p = Path(source)
        key = (str(p), p.stat().st_mtime_ns if p.exists() else 0)
        if key in _IMAGES:
            _IMAGES.move_to_end(key)
            return _IMAGES[key]
        image = load_user_image(p)
        _IMAGES[key] = image
        while len(_IMAGES) > 8:
            _IMAGES.popitem(last=False)
        return image
    return load_user_image(source)


def parse_box(text: str | None, image_hw: tuple[int, int]) -> list[float] | None:
    """'x, y, w, h' (commas or spaces) -> a box clipped to the image; blank -> None (whole image)."""
    if text is None or not str(text).strip():
        return None
    parts = str(text).replace(",", " ").split()
    try:
        x, y, w, h = (float(v) for v in parts)
    except ValueError:
        raise ValueError(f"person box must be four numbers 'x, y, w, h', got {text!r}") from None
    if not all(np.isfinite([x, y, w, h])) or w <= 1 or h <= 1:
        raise ValueError(f"person box needs a width and height above 1 pixel, got {text!r}")
    ih, iw = image_hw
    x0, y0 = max(0.0, x), max(0.0, y)
    x1, y1 = min(float(iw), x + w), min(float(ih), y + h)
    if x1 - x0 <= 1 or y1 - y0 <= 1:
        raise ValueError(f"person box {text!r} lies outside the {iw}x{ih} image")
    return [x0, y0, x1 - x0, y1 - y0]


def examples(count: int = 6) -> list[list[str]]:
    """[[image path, 'x, y, w, h' of its annotated person], ...] from data_samples/synthpose_val."""
    ann = EXAMPLE_DIR / "annotations.json"
    if not ann.is_file():
        return []
    data = json.loads(ann.read_text(encoding="utf-8"))
    boxes = {a["image_id"]: a["bbox"] for a in data.get("annotations", [])}
    rows = []
    for img in data.get("images", [])[:count]:
        path = EXAMPLE_DIR / "images" / img["file_name"]
        if path.is_file():
            box = boxes.get(img["id"])
            rows.append([str(path), "" if box is None else ", ".join(f"{v:g}" for v in box)])
    return rows
