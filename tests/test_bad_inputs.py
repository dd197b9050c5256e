"""Issue 8: the bad-input table. Every awkward file, checkpoint, dataset, CLI value and person box
goes through the entry point a user would hit, and gets either a clear refusal naming the problem
or a documented conversion. The same CASES list generates docs/robustness.md
(``python benchmarks/bad_inputs_table.py``).

Entry points: ``load_user_image`` (ValueError), ``load_model`` (CheckpointError),
``CocoKeypointDataset`` (ValueError / FileNotFoundError), ``sdpose`` CLI (exit 2 + one line on
stderr), the explorer's compare handler (a warning message instead of figures).
"""
from __future__ import annotations

import contextlib
import io
import pickle
import re
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest
import torch
from PIL import Image

from bad_input_builders import (EXAMPLE, EXAMPLE_BOX, MARKER, Case, Outcome, ckpt, cli, coco, compare_input,
                                compare_ok, empty_dir, evil, gif, grey_check, image_file, landscape,
                                nan_array, nan_array_check, nan_weights, noise, onnx_wrong_outputs,
                                orientation, outside_points,
                                palette, palette_transparent_check, png_header_only, rgb,
                                sixteen_bit_check, teacher_weights, torch_bytes, unlabelled_check,
                                upright_check, write)
from sdpose_core import load_model
from sdpose_core.cli import main as cli_main
from sdpose_core.data.topdown import CocoKeypointDataset
from sdpose_core.errors import CheckpointError
from sdpose_core.io.images import load_user_image


# ---- the table ----------------------------------------------------------------------------------
CASES: list[Case] = [
    # images -> load_user_image
    Case("image-not-an-image", "image", "text saved as .jpg", write("photo.jpg", b"definitely not a jpeg"),
         r"photo\.jpg: not an image file"),
    Case("image-png-signature-garbage", "image", "PNG signature, garbage after it",
         write("fake.png", b"\x89PNG\r\n\x1a\n" + b"\0" * 40), r"not an image file"),
    Case("image-truncated-jpeg", "image", "JPEG cut in half", image_file("cut.jpg", noise, cut=True, quality=90),
         r"cut\.jpg: the image file is damaged or truncated"),
    Case("image-truncated-png", "image", "PNG cut in half", image_file("cut.png", noise, cut=True),
         r"cut\.png: the image file is damaged or truncated"),
    Case("image-zero-byte", "image", "zero-byte file", write("empty.png", b""), r"empty\.png: the file is empty"),
    Case("image-missing", "image", "path that does not exist", lambda f: f / "nope.png", r"nope\.png: no such file"),
    Case("image-20000x20000", "image", "20000x20000 PNG (400 MP; header only)",
         write("huge.png", lambda: png_header_only(20000, 20000)), r"far too large \(over 40 MP\).*downscale"),
    Case("image-1x1", "image", "1x1 pixel PNG", image_file("dot.png", lambda: Image.new("RGB", (1, 1))),
         r"dot\.png: the image is only 1x1 pixels; need at least 8 per side"),
    Case("image-grey", "image", "8-bit greyscale PNG",
         image_file("grey.png", lambda: Image.new("L", (16, 12), 90)), "", grey_check,
         "RGB, grey copied to 3 channels"),
    Case("image-rgba", "image", "RGBA PNG, transparent pixels",
         image_file("rgba.png", lambda: Image.new("RGBA", (16, 12), (200, 0, 0, 0))), "",
         rgb(12, 16, (255, 255, 255)), "RGB, composited on white"),
    Case("image-palette", "image", "palette (P) PNG", image_file("pal.png", lambda: palette(False)), "",
         rgb(12, 16, (255, 0, 0)), "RGB, palette colours"),
    Case("image-palette-transparent", "image", "palette PNG with a transparent index",
         image_file("palt.png", lambda: palette(True)), "", palette_transparent_check,
         "RGB, transparent index composited on white"),
    Case("image-16-bit-png", "image", "16-bit greyscale PNG",
         image_file("d16.png", lambda: Image.fromarray(
             np.array([[0, 65535], [32768, 1000]], np.uint16).repeat(8, 0).repeat(8, 1))), "",
         sixteen_bit_check, "RGB, 0..65535 scaled to 0..255"),
    Case("image-exif-rotated-jpeg", "image", "JPEG with EXIF orientation 6",
         image_file("rot.jpg", landscape, exif=orientation(6), quality=95), "", upright_check,
         "RGB, shown upright (EXIF rotation applied)"),
    Case("image-animated-gif", "image", "animated GIF, 3 frames", gif, "", rgb(12, 16, (255, 0, 0)),
         "RGB of the first frame"),
    Case("image-cmyk-jpeg", "image", "CMYK JPEG", image_file("cmyk.jpg", lambda: Image.new("CMYK", (16, 12),
                                                                                      (0, 255, 255, 0))),
         "", rgb(12, 16), "RGB, converted from CMYK"),
    Case("image-float-tiff", "image", "32-bit float TIFF",
         image_file("f.tiff", lambda: Image.fromarray(np.full((12, 16), 0.5, np.float32))), "",
         rgb(12, 16, (128, 128, 128)), "RGB, 0..1 scaled to 0..255"),
    Case("image-array-nan-inf", "image", "float array holding NaN and Inf", lambda f: nan_array(), "",
         nan_array_check, "RGB, NaN/Inf pixels become black"),
    Case("image-array-2-channels", "image", "(H, W, 2) array", lambda f: np.zeros((4, 4, 2), np.uint8),
         r"expected an image array .* got shape \(4, 4, 2\)"),
    # checkpoints -> load_model
    Case("ckpt-nan-inf", "checkpoint", "NaN and Inf in the weights", ckpt("nan.pt", nan_weights),
         r"nan\.pt: weights contain NaN/Inf: .*head\.mlp_head\.1\.weight"),
    Case("ckpt-other-architecture", "checkpoint", "synth-student config, CNN teacher weights",
         ckpt("mixed.pt", teacher_weights),
         r"mixed\.pt: the weights do not fit the architecture 'synth-student'.*unexpected keys"),
    Case("ckpt-foreign-state-dict", "checkpoint", "a state dict of some other network",
         write("resnet.pt", lambda: torch_bytes({"state_dict": {"fc.weight": torch.zeros(2, 2)}})),
         r"resnet\.pt: unrecognised checkpoint layout"),
    Case("ckpt-truncated", "checkpoint", "checkpoint cut in half", ckpt("cut.pt", cut=True),
         r"cut\.pt: the checkpoint archive is truncated or corrupt"),
    Case("ckpt-pickle-runs-code", "checkpoint", "plain pickle whose __reduce__ runs a shell command",
         evil("evil.pkl", lambda o, p: p.write_bytes(pickle.dumps(o))), r"evil\.pkl: refused to load.*os\.system|"
         r"evil\.pkl: refused to load.*posix\.system"),
    Case("ckpt-torch-save-runs-code", "checkpoint", "torch.save of an object whose __reduce__ runs code",
         evil("evil.pt", lambda o, p: torch.save(o, p)), r"evil\.pt: refused to load"),
    Case("ckpt-text-file", "checkpoint", "a text file named .pt", write("notes.pt", b"not weights\n" * 20),
         r"notes\.pt: this is a text file"),
    Case("ckpt-zero-byte", "checkpoint", "zero-byte checkpoint", write("empty.pt", b""),
         r"empty\.pt: the file is empty"),
    Case("ckpt-bad-config", "checkpoint", "our format with a config that is not a dict",
         ckpt("cfg.pt", lambda c: {**c, "config": 7}), r"cfg\.pt: bad model config"),
    Case("ckpt-unknown-name", "checkpoint", "neither a file nor a zoo name", lambda f: "sdpose-xxl",
         r"sdpose-xxl: no such file, and not a zoo model"),
    # datasets -> CocoKeypointDataset
    Case("data-empty-folder", "dataset", "empty folder", empty_dir, r"no COCO keypoints annotation json in"),
    Case("data-unlabeled-folder", "dataset", "images but no annotation json", coco(with_json=False),
         r"no COCO keypoints annotation json in .*json files present: none"),
    Case("data-malformed-json", "dataset", "annotations.json is not valid JSON", coco(raw='{"images": [}'),
         r"annotations\.json: malformed JSON"),
    Case("data-not-coco", "dataset", "JSON without images/annotations", coco(raw='{"images": []}'),
         r"no COCO keypoints annotation json|not a COCO keypoints file"),
    Case("data-image-without-size", "dataset", "an image entry without width",
         coco(image=dict(id=1, file_name="0.png", height=120)), r"malformed COCO: images\[0\] lacks \['width'\]"),
    Case("data-bad-bbox", "dataset", "a bbox of three numbers", coco(bbox=(1, 2, 3)),
         r"malformed COCO: annotations\[0\] bbox must be \[x, y, w, h\]"),
    Case("data-no-labelled-keypoints", "dataset", "a person with every keypoint v=0", coco(kpts=[[0, 0, 0]] * 17),
         r"no person annotations .*1 annotation\(s\) with too few labelled keypoints"),
    Case("data-box-outside-image", "dataset", "person box fully outside the image",
         coco(bbox=(500, 500, 50, 50)), r"1 annotation\(s\) with the person box outside the image"),
    Case("data-keypoints-outside-image", "dataset", "2 labelled keypoints outside the 90x120 image",
         coco(kpts=outside_points()), "", unlabelled_check(2, 2),
         "loads; those keypoints become unlabelled (v=0), counted in `dataset.skipped`"),
    Case("data-nan-keypoints", "dataset", "a keypoint with NaN coordinates",
         coco(kpts=[[float("nan"), 60, 2]] + [[40, 60, 2]] * 16), "", unlabelled_check(1, 1),
         "loads; that keypoint becomes unlabelled (v=0)"),
    # the sdpose command
    Case("cli-train-negative-epochs", "cli", "`sdpose train --epochs -1`",
         cli("train", "--recipe", "baseline", "--data", "{data}", "--out", "{out}", "--epochs", "-1"),
         r"argument --epochs: expected a number > 0, got -1"),
    Case("cli-train-zero-batch", "cli", "`sdpose train --batch-size 0`",
         cli("train", "--recipe", "baseline", "--data", "{data}", "--out", "{out}", "--batch-size", "0"),
         r"argument --batch-size: expected a number > 0, got 0"),
    Case("cli-train-text-epochs", "cli", "`sdpose train --epochs ten`",
         cli("train", "--recipe", "baseline", "--data", "{data}", "--out", "{out}", "--epochs", "ten"),
         r"argument --epochs: expected a whole number, got 'ten'"),
    Case("cli-train-negative-lr", "cli", "`sdpose train --lr -1`",
         cli("train", "--recipe", "baseline", "--data", "{data}", "--out", "{out}", "--lr", "-1"),
         r"--lr must be a positive number, got -1"),
    Case("cli-train-missing-data", "cli", "`sdpose train --data` a missing folder",
         cli("train", "--recipe", "baseline", "--data", "{out}", "--out", "{out}"), r"--data .* does not exist"),
    Case("cli-synth-zero-num", "cli", "`sdpose synth --num 0`", cli("synth", "--out", "{out}", "--num", "0"),
         r"argument --num: expected a number > 0, got 0"),
    Case("cli-synth-size-10x10", "cli", "`sdpose synth --size 10x10`",
         cli("synth", "--out", "{out}", "--num", "3", "--size", "10x10"),
         r"argument --size: size 10x10 is out of range \(32x24 \.\. 2048x2048\)"),
    Case("cli-eval-unlabeled-folder", "cli", "`sdpose eval --data` a folder without annotations",
         cli("eval", "--model", "synth-student", "--data", "{data}"), r"no COCO keypoints annotation json in"),
    Case("cli-eval-bad-checkpoint", "cli", "`sdpose eval --model` a text file",
         lambda f: ["eval", "--model", str(write("w.pt", b"hello\n")(f)), "--data", str(f)],
         r"w\.pt: this is a text file"),
    # the explorer's compare handler (same path as the /compare endpoint)
    Case("compare-box-outside-image", "compare", "person box fully outside the image",
         compare_input("500, 500, 20, 20"),
         r"person box '500, 500, 20, 20' lies outside the \d+x\d+ image"),
    Case("compare-box-three-numbers", "compare", "person box '1, 2, 3'", compare_input("1, 2, 3"),
         r"person box must be four numbers"),
    Case("compare-box-negative-size", "compare", "person box with negative width", compare_input("10, 10, -5, 20"),
         r"width and height above 1 pixel"),
    Case("compare-box-nan", "compare", "person box 'nan nan nan nan'", compare_input("nan nan nan nan"),
         r"width and height above 1 pixel"),
    Case("compare-box-partly-outside", "compare", "person box half outside the image",
         compare_input("-20, -20, 60, 80"), r"OKS agreement.*box area 2,400 px²", compare_ok,
         "box clipped to the image; poses drawn"),
    Case("compare-no-image", "compare", "no image uploaded", compare_input("", image=None),
         r"no image: upload a photo"),
    # ONNX pose models -> load_model
    Case("ckpt-onnx-wrong-outputs", "checkpoint", "ONNX file whose output is 'heatmaps', not simcc_x / simcc_y",
         onnx_wrong_outputs, r"pose\.onnx: expected one image input .* outputs 'simcc_x' .* 'simcc_y' .*"
         r"the graph has outputs: heatmaps"),
]


# ---- running a case through its entry point ------------------------------------------------------
def _call(fn: Callable[[Any], Any], value: Any, errors: tuple) -> Outcome:
    try:
        return Outcome(False, "", fn(value))
    except errors as err:
        return Outcome(True, str(err))


def _run_cli(argv: list[str]) -> Outcome:
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            code = cli_main(argv)
        except SystemExit as stop:  # argparse refusals
            code = stop.code
    return Outcome(code == 2, err.getvalue().strip().splitlines()[-1] if err.getvalue().strip() else "", code)


def _run_compare(value: tuple, models: Any) -> Outcome:
    from explorer.tabs.compare import compare

    overlay, bars, summary = compare(models, *value, "student")
    return Outcome("OKS agreement" not in summary, summary, (overlay, bars))


def run_case(case: Case, folder: Path, models: Any = None) -> Outcome:
    """Build the case's input in ``folder`` and hand it to its entry point."""
    folder.mkdir(parents=True, exist_ok=True)
    value = case.make(folder)
    if case.entry == "image":
        return _call(load_user_image, value, (ValueError,))
    if case.entry == "checkpoint":
        return _call(load_model, value, (CheckpointError,))
    if case.entry == "dataset":
        return _call(CocoKeypointDataset, value, (ValueError, FileNotFoundError))
    if case.entry == "cli":
        return _run_cli(value)
    if case.entry == "compare":
        return _run_compare(value, models)
    raise AssertionError(f"unknown entry point {case.entry!r}")


def random_models(folder: Path) -> Any:
    """The explorer's ModelSet over random-weight checkpoints (plumbing only)."""
    from explorer.models import ModelSet

    from conftest import write_random_checkpoints

    return ModelSet.load(write_random_checkpoints(folder), warmup=False)


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    pytest.importorskip("gradio")
    return random_models(tmp_path_factory.mktemp("ckpt"))


# ---- the tests ----------------------------------------------------------------------------------
def test_table_is_big_and_ids_are_unique():
    assert len(CASES) >= 25 and len({c.id for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(case: Case, tmp_path: Path, request):
    models = request.getfixturevalue("models") if case.entry == "compare" else None
    out = run_case(case, tmp_path / "case", models)
    assert not (tmp_path / "case" / MARKER).exists(), "a refused pickle ran its code"
    if case.check is None:
        assert out.refused, f"{case.id} was accepted"
        assert re.search(case.needle, out.message, re.S), out.message
        if case.entry == "cli":
            assert out.value == 2
    else:
        assert not out.refused, out.message
        assert re.search(case.needle, out.message, re.S), out.message
        case.check(out.value)


def _upload(case: Case, folder: Path) -> tuple[str, str] | None:
    """(image file, box text) to send for an image or compare case; None when nothing can be uploaded."""
    folder.mkdir()
    made = case.make(folder)
    path, box_text = (made, "") if case.entry == "image" else made
    if not isinstance(path, (str, Path)) or not Path(path).is_file():
        return None  # arrays, missing files and "no image" are covered by test_bad_input
    return str(path), box_text


def test_explorer_keeps_serving_after_bad_inputs(models, tmp_path):
    """Every image file and every person box of the table through the running server's /compare."""
    gradio_client = pytest.importorskip("gradio_client")
    from explorer.serve import start_background

    demo, url = start_background(models)
    try:
        client = gradio_client.Client(url, verbose=False)
        sent = 0
        for case in (c for c in CASES if c.entry in ("image", "compare")):
            upload = _upload(case, tmp_path / case.id)
            if upload is None:
                continue
            *_, summary = client.predict(gradio_client.handle_file(upload[0]), upload[1], "student",
                                         api_name="/compare")
            sent += 1
            if case.check is not None:
                assert "OKS agreement" in summary, (case.id, summary)
            else:  # the server may rename the upload: match the problem, not the file name
                assert re.search(case.needle.split(": ", 1)[-1], summary, re.S), (case.id, summary)
        assert sent >= 20
        *_, summary = client.predict(gradio_client.handle_file(str(EXAMPLE)), EXAMPLE_BOX, "student",
                                     api_name="/compare")
        assert "OKS agreement" in summary  # still serving
    finally:
        demo.close()
