"""Builders and checks for tests/test_bad_inputs.py: every input is made inside a given folder
(files with PIL / numpy / torch.save, truncations by keeping half the bytes), never a shared path."""
from __future__ import annotations

import io
import json
import os
import struct
import zlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from PIL import Image

from sdpose_core.data.topdown import CocoKeypointDataset
from sdpose_core.io.checkpoint import save_model
from sdpose_core.models.zoo import build_model

MARKER = "PWNED"  # created only if a refused pickle ran its code
EXAMPLE = Path(__file__).resolve().parents[1] / "data_samples" / "synthpose_val" / "images" / "000000.png"
EXAMPLE_BOX = "21, 0, 53, 120"

@dataclass(frozen=True)
class Case:
    """One row of the table: how to build the input, and what must come back."""

    id: str
    entry: str  # "image" | "checkpoint" | "dataset" | "cli" | "compare"
    problem: str  # what is wrong with the input, for the doc
    make: Callable[[Path], Any]  # builds the input inside a fresh folder and returns it
    needle: str  # regex the message must match (refusals) / the summary must match (compare)
    check: Callable[[Any], None] | None = None  # accepted inputs: assertions on the result
    outcome: str = ""  # accepted inputs: what the user gets, for the doc


@dataclass
class Outcome:
    refused: bool
    message: str
    value: Any = None


# ---- builders ---------------------------------------------------------------------------------
def write(name: str, data: bytes | Callable[[], bytes]) -> Callable[[Path], Path]:
    def make(folder: Path) -> Path:
        (folder / name).write_bytes(data() if callable(data) else data)
        return folder / name
    return make


def image_file(name: str, build: Callable[[], Image.Image], cut: bool = False, **save) -> Callable[[Path], Path]:
    def make(folder: Path) -> Path:
        path = folder / name
        build().save(path, **save)
        if cut:  # keep the first half of the bytes, as an interrupted download would
            path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
        return path
    return make


def noise(h: int = 64, w: int = 48) -> Image.Image:
    return Image.fromarray(np.random.default_rng(0).integers(0, 256, (h, w, 3), dtype=np.uint8))


def png_header_only(width: int, height: int) -> bytes:
    """A valid PNG header claiming width x height (so nothing huge is ever allocated)."""
    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64))
            + chunk(b"IEND", b""))


def palette(transparent: bool) -> Image.Image:
    img = Image.fromarray(np.array([[0, 1] * 8] * 12, np.uint8), "P")
    img.putpalette([255, 0, 0, 0, 255, 0] + [0] * 762)
    if transparent:
        img.info["transparency"] = 1  # green is see-through
    return img


def landscape() -> Image.Image:
    arr = np.zeros((20, 40, 3), np.uint8)  # landscape, left half white
    arr[:, :20] = 255
    return Image.fromarray(arr)


def orientation(value: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = value  # 6: the camera was turned, show it rotated 90 degrees clockwise
    return exif.tobytes()


def gif(folder: Path) -> Path:
    frames = [Image.new("RGB", (16, 12), c) for c in ("red", "blue", "green")]
    frames[0].save(folder / "anim.gif", save_all=True, append_images=frames[1:], duration=100, loop=0)
    return folder / "anim.gif"


def torch_bytes(obj: Any) -> bytes:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


@lru_cache(maxsize=None)
def _student() -> torch.nn.Module:
    torch.manual_seed(0)
    return build_model("synth-student")


def ckpt(name: str, edit: Callable[[dict], Any] | None = None, cut: bool = False) -> Callable[[Path], Path]:
    """Our checkpoint of synth-student, edited as a dict (then torch.save) and/or truncated."""
    def make(folder: Path) -> Path:
        path = save_model(_student(), folder / name)
        if edit is not None:
            ckpt = torch.load(path, weights_only=True)
            torch.save(edit(ckpt) or ckpt, path)
        if cut:
            path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
        return path
    return make


def nan_weights(ckpt: dict) -> None:
    ckpt["state_dict"]["head.mlp_head.1.weight"][0, 0] = float("nan")
    ckpt["state_dict"]["encoder.keypoint_token"][0, 0, 0] = float("inf")


def teacher_weights(ckpt: dict) -> None:  # config says synth-student, weights are the CNN teacher's
    ckpt["state_dict"] = build_model("synth-teacher").state_dict()


class _RunsCode:
    """Unpickling this would run a shell command creating MARKER, if the loader allowed it."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def evil(name: str, dump: Callable[[Any, Path], None]) -> Callable[[Path], Path]:
    def make(folder: Path) -> Path:
        dump({"state_dict": {}, "payload": _RunsCode(folder / MARKER)}, folder / name)
        return folder / name
    return make


def coco(kpts: list | None = None, bbox: Any = (10, 5, 70, 110), image: dict | None = None,
          raw: str | None = None, with_json: bool = True) -> Callable[[Path], Path]:
    """A one-image, one-person COCO folder (90x120 grey image); every field can be spoiled."""
    def make(folder: Path) -> Path:
        (folder / "images").mkdir()
        Image.new("RGB", (90, 120), "grey").save(folder / "images" / "0.png")
        points = kpts if kpts is not None else [[40, 60, 2]] * 17
        img = image if image is not None else dict(id=1, file_name="0.png", width=90, height=120)
        ann = dict(id=1, image_id=1, category_id=1, iscrowd=0, bbox=list(bbox),
                   keypoints=[float(v) for p in points for v in p], num_keypoints=17)
        text = raw if raw is not None else json.dumps(dict(images=[img], annotations=[ann],
                                                           categories=[dict(id=1, name="person")]))
        if with_json:
            (folder / "annotations.json").write_text(text)
        return folder
    return make


def outside_points() -> list:
    points = [[40, 60, 2]] * 17
    return [[500, -300, 2], [95, 60, 2]] + points[2:]  # far outside; just right of the 90 px width


def empty_dir(folder: Path) -> Path:
    (folder / "data").mkdir()
    return folder / "data"


def cli(*argv: str) -> Callable[[Path], list[str]]:
    """argv with {data} replaced by an existing (empty) folder and {out} by a fresh path."""
    def make(folder: Path) -> list[str]:
        (folder / "data").mkdir()
        return [a.format(data=folder / "data", out=folder / "out") for a in argv]
    return make


def compare_input(text: str | None, image: Path | None = EXAMPLE) -> Callable[[Path], tuple]:
    return lambda folder: (None if image is None else str(image), text)


# ---- checks on accepted inputs ------------------------------------------------------------------
def rgb(h: int, w: int, corner: tuple | None = None) -> Callable[[np.ndarray], None]:
    def check(out: np.ndarray) -> None:
        assert out.dtype == np.uint8 and out.shape == (h, w, 3)
        if corner is not None:
            assert tuple(int(v) for v in out[0, 0]) == corner
    return check


def grey_check(out: np.ndarray) -> None:
    rgb(12, 16)(out)
    assert np.array_equal(out[..., 0], out[..., 1]) and np.array_equal(out[..., 1], out[..., 2])


def palette_transparent_check(out: np.ndarray) -> None:
    rgb(12, 16, (255, 0, 0))(out)
    assert tuple(out[0, 1]) == (255, 255, 255)  # the transparent (green) index is composited on white


def sixteen_bit_check(out: np.ndarray) -> None:
    rgb(16, 16)(out)
    assert out[0, 0, 0] == 0 and out[0, 15, 0] == 255 and out[8, 0, 0] == 128


def upright_check(out: np.ndarray) -> None:
    rgb(40, 20)(out)  # portrait: the EXIF rotation was applied
    assert out[5, 10].mean() > 200 and out[35, 10].mean() < 50  # the white half is now on top


def nan_array_check(out: np.ndarray) -> None:
    rgb(12, 9)(out)
    assert out[0, 0, 0] == 0 and out[0, 1, 0] == 0 and out[0, 2, 0] == 255


def nan_array() -> np.ndarray:
    arr = np.ones((12, 9), np.float32)
    arr[0, 0], arr[0, 1] = np.nan, np.inf
    return arr


def unlabelled_check(count: int, first: int) -> Callable[[CocoKeypointDataset], None]:
    def check(ds: CocoKeypointDataset) -> None:
        item = ds[0]
        assert len(ds) == 1 and sum(ds.skipped.values()) == count
        assert item["visible"][:first].sum() == 0 and item["keypoints"][:first].abs().sum() == 0
        assert item["meta"]["orig_keypoints"][:first, 2].sum() == 0
        assert torch.isfinite(item["keypoints"]).all() and item["visible"][first:].sum() == 17 - first
    return check


def onnx_wrong_outputs(folder: Path) -> Path:
    """An ONNX graph with one (1, 3, 64, 48) input and a 'heatmaps' output (not the SimCC layout)."""
    from onnx import TensorProto, helper, save_model as save_onnx

    image = helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, 64, 48])
    heatmaps = helper.make_tensor_value_info("heatmaps", TensorProto.FLOAT, [1, 3, 64, 48])
    graph = helper.make_graph([helper.make_node("Identity", ["input"], ["heatmaps"])], "wrong", [image], [heatmaps])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    save_onnx(model, folder / "pose.onnx")
    return folder / "pose.onnx"


def compare_ok(value: Any) -> None:
    overlay, bars = value
    assert sum(len(t.x) == 17 for t in overlay.data if t.type == "scatter") == 2 and len(bars.data) == 2

