"""Still frames and GIF animations of a run's snapshots, drawn with Pillow from the data alone
(no browser, no kaleido): the attention of one keypoint token, the skeleton, or the prediction map,
each over the network's input crop, with the snapshot's label and AP in a caption bar.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont
from plotly.colors import get_colorscale, hex_to_rgb, unlabel_rgb

from sdpose_core.data.coco_meta import SKELETON
from sdpose_core.interpret.history_views import VIEWS, SnapshotView

CAPTION_PX = 18  # height of the caption bar above each frame, before scaling


def colormap_lut(name: str = "Inferno", n: int = 256) -> np.ndarray:
    """A plotly colour scale sampled at ``n`` points: (n, 3) uint8."""
    stops = get_colorscale(name)
    pos = np.array([float(p) for p, _ in stops])
    rgb = np.array([hex_to_rgb(c) if c.startswith("#") else unlabel_rgb(c) for _, c in stops], dtype=np.float64)
    t = np.linspace(0.0, 1.0, n)
    return np.stack([np.interp(t, pos, rgb[:, i]) for i in range(3)], axis=1).round().astype(np.uint8)


def colorize(values: np.ndarray, lo: float, hi: float, name: str = "Inferno") -> np.ndarray:
    """(h, w) values -> (h, w, 3) uint8 through a colour scale, ``lo`` .. ``hi`` mapped to its ends."""
    lut = colormap_lut(name)
    t = (np.asarray(values, dtype=np.float64) - lo) / max(hi - lo, 1e-12)
    return lut[np.clip(np.round(t * (len(lut) - 1)), 0, len(lut) - 1).astype(np.int64)]


def _blend(crop: np.ndarray, colored: np.ndarray, alpha: float) -> Image.Image:
    """Stretch a coloured (h, w, 3) map over the crop (each cell covers its pixels) and blend it in."""
    h, w = crop.shape[:2]
    layer = Image.fromarray(colored).resize((w, h), Image.Resampling.NEAREST)
    return Image.blend(Image.fromarray(crop), layer, alpha)


def _cross(draw: ImageDraw.ImageDraw, xy: Sequence[float], size: float, color: str) -> None:
    x, y = xy
    draw.line([(x - size, y - size), (x + size, y + size)], fill=color, width=2)
    draw.line([(x - size, y + size), (x + size, y - size)], fill=color, width=2)


def render_frame(view: SnapshotView, kind: str, keypoint: int, scale: int = 3,
                 value_range: tuple[float, float] | None = None) -> Image.Image:
    """One snapshot as an RGB image of (scale * (H + caption), scale * W) px.

    Args:
        kind: 'attention' (the keypoint token's weights over the patches, cyan cross: its prediction),
            'skeleton' (limbs, keypoints filled by confidence), or 'heatmap' (the keypoint's map).
        value_range: colour range of the attention map (shared across frames so they compare).
    """
    if kind not in VIEWS:
        raise ValueError(f"view must be one of {', '.join(VIEWS)}, got {kind!r}")
    h, w = view.crop.shape[:2]
    if kind == "attention":
        lo, hi = value_range or (float(view.attention.min()), float(view.attention.max()))
        base = _blend(view.crop, colorize(view.attention, lo, hi), 0.55)
    elif kind == "heatmap":
        base = _blend(view.crop, colorize(view.heatmap, 0.0, 1.0), 0.6)
    else:
        base = Image.fromarray(view.crop)
    img = base.resize((w * scale, h * scale), Image.Resampling.BILINEAR)
    draw = ImageDraw.Draw(img)
    pts = (view.keypoints + 0.5) * scale - 0.5  # crop pixel centres -> scaled pixel centres
    if kind == "skeleton":
        for a, b in SKELETON:
            draw.line([tuple(pts[a]), tuple(pts[b])], fill=(214, 39, 40), width=max(1, scale))
        lut = colormap_lut("Viridis")
        for (x, y), s in zip(pts, np.clip(view.scores, 0, 1)):
            r = 1.5 * scale
            draw.ellipse([x - r, y - r, x + r, y + r], fill=tuple(int(v) for v in lut[int(s * 255)]), outline="white")
    else:
        _cross(draw, pts[keypoint], 2 * scale, "cyan")
    return _captioned(img, view.label + ("" if view.ap is None else f" · AP {view.ap:.3f}"), scale)


def _captioned(img: Image.Image, text: str, scale: int) -> Image.Image:
    bar = CAPTION_PX * scale
    out = Image.new("RGB", (img.width, img.height + bar), "white")
    out.paste(img, (0, bar))
    draw = ImageDraw.Draw(out)
    size = max(8, int(bar * 0.6))
    font = ImageFont.load_default(size=size)
    while size > 8 and draw.textlength(text, font=font) > img.width - 8:  # shrink until it fits
        size -= 1
        font = ImageFont.load_default(size=size)
    draw.text((4, bar // 2), text, fill="black", font=font, anchor="lm")
    return out


def animation_frames(views: Sequence[SnapshotView], kind: str, keypoint: int, scale: int = 3) -> list[Image.Image]:
    """One frame per snapshot; attention frames share one colour range (the min..max over all)."""
    if not views:
        raise ValueError("no snapshots to draw")
    rng = (float(min(v.attention.min() for v in views)), float(max(v.attention.max() for v in views)))
    return [render_frame(v, kind, keypoint, scale, rng) for v in views]


def write_gif(frames: Sequence[Image.Image], path: str | Path, fps: float = 2.0) -> Path:
    """An endlessly looping GIF, one frame per snapshot, written atomically (temporary file, then rename)."""
    path = Path(path)
    if path.suffix.lower() != ".gif":
        raise ValueError(f"{path}: animations are written as .gif (Pillow; MP4 would need ffmpeg, not a dependency)")
    if not frames:
        raise ValueError("no frames to write")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".gif.tmp")
    os.close(fd)
    try:
        first, *rest = [f.convert("RGB") for f in frames]
        first.save(tmp, format="GIF", save_all=True, append_images=rest, duration=int(round(1000 / fps)), loop=0)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path
