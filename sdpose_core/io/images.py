"""Read a user's photo safely: any common file or array -> (H, W, 3) uint8 RGB, or a clear error.

The explorer hands every upload to :func:`load_user_image`. It undoes EXIF rotation, converts
grey / palette / RGBA / CMYK images to RGB, scales 16-bit and float images to 8 bit, and refuses
files that are not images, are damaged, or are too large to inspect on a laptop.
"""
from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

MAX_PIXELS = 40_000_000  # ~40 MP: larger photos are refused (decoding alone would need > 120 MB)
MIN_SIDE = 8


def _check_size(width: int, height: int, max_pixels: int) -> None:
    if width * height > max_pixels:
        raise ValueError(f"the image is {width}x{height} = {width * height / 1e6:.1f} MP; "
                         f"images above {max_pixels / 1e6:.0f} MP are refused, please downscale it")
    if min(width, height) < MIN_SIDE:
        raise ValueError(f"the image is only {width}x{height} pixels; need at least {MIN_SIDE} per side")


def _to_uint8(array: np.ndarray) -> np.ndarray:
    """Scale 16-bit / 32-bit integer or float pixels into 0..255."""
    a = np.asarray(array)
    if a.dtype == np.uint8:
        return a
    if a.dtype == bool:
        return a.astype(np.uint8) * 255
    if np.issubdtype(a.dtype, np.floating):
        a = np.nan_to_num(a.astype(np.float64), nan=0.0, posinf=0.0, neginf=0.0)
        hi = 1.0 if a.size and a.max() <= 1.0 else 255.0
        return np.clip(np.round(a / hi * 255.0), 0, 255).astype(np.uint8)
    if np.issubdtype(a.dtype, np.integer):
        top = 65535.0 if a.max(initial=0) > 255 else 255.0
        return np.clip(np.round(a.astype(np.float64) / top * 255.0), 0, 255).astype(np.uint8)
    raise ValueError(f"unsupported pixel type {a.dtype}")


def array_to_rgb(array: np.ndarray, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """An (H, W), (H, W, 1|3|4) array of any numeric type -> (H, W, 3) uint8 RGB."""
    a = np.asarray(array)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[:, :, 0]
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] not in (3, 4)):
        raise ValueError(f"expected an image array (H, W[, 1|3|4]), got shape {a.shape}")
    _check_size(a.shape[1], a.shape[0], max_pixels)
    a = _to_uint8(a)
    if a.ndim == 2:
        a = np.repeat(a[:, :, None], 3, axis=2)
    if a.shape[2] == 4:  # composite on white so transparent areas do not turn black
        alpha = a[:, :, 3:4].astype(np.float32) / 255.0
        a = np.round(a[:, :, :3] * alpha + 255.0 * (1.0 - alpha)).astype(np.uint8)
    return np.ascontiguousarray(a)


def _pil_to_rgb(img: Image.Image, max_pixels: int) -> np.ndarray:
    _check_size(img.width, img.height, max_pixels)
    img = ImageOps.exif_transpose(img)
    if img.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        return array_to_rgb(np.asarray(img), max_pixels)
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        return array_to_rgb(np.asarray(img.convert("RGBA")), max_pixels)
    return array_to_rgb(np.asarray(img.convert("RGB")), max_pixels)


def load_user_image(source: str | os.PathLike | np.ndarray | Image.Image,
                    max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """A photo as (H, W, 3) uint8 RGB, upright (EXIF orientation applied).

    Args:
        source: a file path, a PIL image, or an array (grey, RGB, RGBA; uint8, uint16 or float).
        max_pixels: refuse larger images (default 40 MP).

    Raises:
        ValueError: not an image, damaged, empty, too large or too small; the message says which.
    """
    if isinstance(source, np.ndarray):
        return array_to_rgb(source, max_pixels)
    if isinstance(source, Image.Image):
        return _pil_to_rgb(source, max_pixels)
    path = Path(source)
    if not path.is_file():
        raise ValueError(f"{path.name}: no such file")
    if path.stat().st_size == 0:
        raise ValueError(f"{path.name}: the file is empty")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                _check_size(img.width, img.height, max_pixels)
                img.load()
                return _pil_to_rgb(img, max_pixels)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ValueError(f"{path.name}: the image is far too large (over {max_pixels / 1e6:.0f} MP); "
                         "please downscale it") from None
    except UnidentifiedImageError:
        raise ValueError(f"{path.name}: not an image file this app can read (PNG, JPEG, WebP, BMP, TIFF)") from None
    except ValueError as err:  # size checks: name the file
        raise ValueError(f"{path.name}: {err}") from None
    except (OSError, SyntaxError, EOFError) as err:
        raise ValueError(f"{path.name}: the image file is damaged or truncated ({err})") from None
