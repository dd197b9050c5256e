"""The explorer's tab handlers called directly (no server): figures have the expected content;
and load_user_image turning every awkward upload into RGB uint8 or a clear ValueError."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

pytest.importorskip("gradio")
pytest.importorskip("plotly")

from explorer import models as explorer_models  # noqa: E402
from explorer.inputs import examples  # noqa: E402
from explorer.models import ModelSet  # noqa: E402
from explorer.tabs import attention, attribution, compare, heatmaps, stages  # noqa: E402
from sdpose_core.interpret import (attention_rollout, keypoint_attention_map, keypoint_rollout_map,  # noqa: E402
                                   token_change_per_cycle)
from sdpose_core.io.checkpoint import save_model  # noqa: E402
from sdpose_core.io.images import MAX_PIXELS, load_user_image  # noqa: E402
from sdpose_core.models.outputs import CycleOutput  # noqa: E402
from sdpose_core.models.zoo import build_model  # noqa: E402
from sdpose_core.train.run_dir import RunDir  # noqa: E402

ZOO = {"teacher": "synth-teacher", "student": "synth-student", "distilpose": "synth-regression"}


def make_checkpoints(folder: Path) -> Path:
    """Random-weight checkpoints under their zoo names (plumbing only, no training)."""
    torch.manual_seed(0)
    for name in ZOO.values():
        save_model(build_model(name), folder / f"{name}.pt")
    return folder


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> ModelSet:
    return ModelSet.load(make_checkpoints(tmp_path_factory.mktemp("ckpt")), warmup=False)


@pytest.fixture(scope="module")
def example() -> tuple[str, str]:
    rows = examples()
    assert rows, "data_samples/synthpose_val is missing"
    return rows[0][0], rows[0][1]


def _traces(fig, kind: str, suffix: str = "") -> list:
    return [t for t in fig.data if t.type == kind and (t.name or "").endswith(suffix)]


def test_models_load_from_folder(models):
    assert set(models.models) == {"teacher", "student", "distilpose"}
    assert all(m.trained for m in models.models.values())
    assert not models.any_untrained()


def test_compare_overlays_17_keypoints_per_model(models, example):
    overlay, bars, summary = compare.compare(models, *example, "student")
    markers = _traces(overlay, "scatter", "keypoints")
    assert len(markers) == 2 and all(len(t.x) == 17 for t in markers)
    assert len(_traces(overlay, "image")) == 2
    assert len(bars.data) == 2 and all(len(b.y) == 17 for b in bars.data)
    assert "OKS agreement" in summary and "latency" in summary


def test_compare_keypoints_are_in_original_image_pixels(models, example):
    path = example[0]
    overlay, _, _ = compare.compare(models, path, "48, 0, 48, 64", "distilpose")
    from sdpose_core.io.images import load_user_image

    h, w = load_user_image(path).shape[:2]
    assert list(overlay.layout.xaxis.range) == [-0.5, w - 0.5]
    assert list(overlay.layout.yaxis.range) == [h - 0.5, -0.5]
    # regression coords lie inside the crop window: centre (72, 32), 1.25 x (48 x 64) -> 60 x 80
    for t in _traces(overlay, "scatter", "keypoints"):
        if "distilpose" in t.name:
            assert np.all((np.asarray(t.x) >= 41.5) & (np.asarray(t.x) <= 102.5))
            assert np.all((np.asarray(t.y) >= -8.5) & (np.asarray(t.y) <= 72.5))


def test_attention_map_has_patch_grid_shape(models, example):
    top, cycles, change, notes = attention.attention(models, *example, "student", 2, 3, "mean", "nose")
    heat = _traces(top, "heatmap")
    grid = models.get("student").model.config.grid_size  # (8, 6) for the synth students
    assert len(heat) == 3 and all(np.asarray(t.z).shape == grid for t in heat)  # map, two rollouts
    assert len(_traces(cycles, "heatmap")) == 2  # synth-student has 2 cycles
    assert len(change.data) == 1 and len(change.data[0].y) == 17  # cycle 1 -> 2
    assert "2 cycle(s)" in notes


def test_attention_redraw_uses_cache(models, example, monkeypatch):
    attention.attention(models, *example, "student", 1, 0, "mean", 0)
    calls = []
    real = explorer_models.run_pose
    monkeypatch.setattr(explorer_models, "run_pose", lambda *a, **k: calls.append(1) or real(*a, **k))
    for layer, head, kp in ((1, "0", 3), (3, "mean", "left_knee"), (2, "3", 16)):
        attention.attention(models, *example, "student", 2, layer, head, kp)
    assert calls == []


def test_attention_single_cycle_model(models, example):
    top, cycles, change, _ = attention.attention(models, *example, "teacher", 5, 99, "1", 0)
    assert len(_traces(cycles, "heatmap")) == 1
    assert "one cycle" in change.layout.annotations[0].text


def test_heatmaps_tab_returns_three_panels_and_losses(models, example):
    panels, overview, md, grid = heatmaps.heatmaps(models, *example, "left_wrist")
    heat = _traces(panels, "heatmap")
    assert len(heat) == 3 and all(np.asarray(t.z).shape == (32, 24) for t in heat)
    assert np.allclose(np.asarray(heat[2].z), np.asarray(heat[1].z) - np.asarray(heat[0].z))
    assert len([t for t in overview.data if t.type == "scatter" and t.mode == "lines"]) == 17
    for term in ("reg2hm_loss", "score_loss", "kpt_dist_loss", "vis_dist_loss"):
        assert term in md
    assert "`reg_loss`" in md and "| `reg_loss`" not in md
    assert len(_traces(grid, "heatmap")) == 17


def test_stages_tab_slider_per_snapshot(models, example, tmp_path):
    run = RunDir(tmp_path / "run")
    for epoch in range(3):
        save_model(build_model("synth-regression"), run.snapshot_path(epoch), epoch=epoch)
        run.log({"epoch": epoch, "split": "train", "total": 1.0 / (epoch + 1), "PCK@0.2": 0.1 * epoch})
    slider, curves, md = stages.stages(models, *example, str(run.root))
    assert len(slider.layout.sliders[0].steps) == 3
    assert {t.name for t in curves.data} == {"total", "PCK@0.2"}
    assert "3 snapshot(s)" in md


@pytest.mark.parametrize("method", ["saliency", "occlusion"])
def test_attribution_maps_cover_the_crop(models, example, method):
    fig, note = attribution.attribution(models, *example, "distilpose", "right_knee", method)
    heat = _traces(fig, "heatmap")
    assert len(heat) == 2  # teacher | student
    for t in heat:
        z = np.asarray(t.z)
        assert z.shape == (128, 96) and np.isclose(z.max(), 1.0) and z.min() >= 0
    assert method.replace("_", " ") in note and "right_knee" in note


@pytest.mark.parametrize("image,box,needle", [
    (None, "", "no image"),
    (__file__, "", "not an image"),
    ("EXAMPLE", "1, 2, 3", "four numbers"),
    ("EXAMPLE", "500, 500, 20, 20", "outside"),
])
def test_bad_inputs_give_messages_not_exceptions(models, example, image, box, needle):
    image = example[0] if image == "EXAMPLE" else image
    for handler, args in ((compare.compare, ("student",)), (heatmaps.heatmaps, (0,)),
                          (attention.attention, ("student", 1, 0, "mean", 0))):
        out = handler(models, image, box, *args)
        assert any(isinstance(o, str) and needle in o for o in out), handler.__name__
    assert "not a training run" in stages.stages(models, example[0], "", "/nonexistent/run")[-1]


def test_keypoint_attention_map_and_rollout():
    k, gh, gw = 17, 2, 3
    t = k + gh * gw
    att = torch.full((1, 2, t, t), 1.0 / t)
    att[0, 1, 4] = 0
    att[0, 1, 4, k + 5] = 1.0  # head 1: keypoint 4 looks only at the last patch
    amap = keypoint_attention_map([att], 0, 1, 4, (gh, gw))
    assert amap.shape == (gh, gw) and amap[1, 2] == 1 and amap.sum() == 1
    assert torch.allclose(keypoint_attention_map([att], 0, "mean", 4, (gh, gw))[1, 2], torch.tensor(0.5 + 0.5 / t))
    eye = torch.eye(t)[None, None]
    assert torch.allclose(attention_rollout([eye, eye]), torch.eye(t))
    rolled = attention_rollout([att, att], head=1)
    assert torch.allclose(rolled.sum(-1), torch.ones(t))
    assert torch.isclose(keypoint_rollout_map(rolled, 4, (gh, gw)).sum(), torch.tensor(1.0))


def test_token_change_per_cycle():
    a = torch.randn(1, 17, 8)
    outs = [CycleOutput(keypoint_tokens=a), CycleOutput(keypoint_tokens=a.clone()),
            CycleOutput(keypoint_tokens=-a)]
    change = token_change_per_cycle(outs)
    assert change.shape == (2, 17)
    assert torch.allclose(change[0], torch.zeros(17), atol=1e-6)
    assert torch.allclose(change[1], torch.full((17,), 2.0), atol=1e-6)
    assert torch.allclose(token_change_per_cycle(outs, "l2")[1], torch.full((17,), 2.0), atol=1e-5)
    with pytest.raises(ValueError):
        token_change_per_cycle(outs[:1])


# ---- load_user_image -------------------------------------------------------------------------
def _save(img: Image.Image, path, **kw):
    img.save(path, **kw)
    return path


def test_rgb_png_roundtrip(tmp_path):
    arr = np.random.default_rng(0).integers(0, 256, (20, 12, 3), dtype=np.uint8)
    out = load_user_image(_save(Image.fromarray(arr), tmp_path / "a.png"))
    assert out.dtype == np.uint8 and np.array_equal(out, arr)


def test_grey_becomes_three_channels(tmp_path):
    arr = np.arange(16 * 10, dtype=np.uint8).reshape(16, 10)
    out = load_user_image(_save(Image.fromarray(arr, "L"), tmp_path / "g.png"))
    assert out.shape == (16, 10, 3) and np.array_equal(out[..., 0], arr) and np.array_equal(out[..., 2], arr)


def test_rgba_is_composited_on_white(tmp_path):
    arr = np.zeros((10, 10, 4), np.uint8)
    arr[..., 0] = 200
    arr[:5, :, 3] = 255  # top half opaque red-ish, bottom half transparent
    out = load_user_image(_save(Image.fromarray(arr, "RGBA"), tmp_path / "t.png"))
    assert out.shape == (10, 10, 3)
    assert tuple(out[0, 0]) == (200, 0, 0) and tuple(out[9, 9]) == (255, 255, 255)


def test_16_bit_png_is_scaled(tmp_path):
    arr = np.array([[0, 65535], [32768, 1000]], dtype=np.uint16).repeat(8, 0).repeat(8, 1)
    img = Image.fromarray(arr)  # uint16 -> mode I;16
    out = load_user_image(_save(img, tmp_path / "d.png"))
    assert out.dtype == np.uint8 and out[0, 0, 0] == 0 and out[0, 15, 0] == 255 and out[8, 0, 0] == 128


def test_exif_rotation_is_applied(tmp_path):
    arr = np.zeros((20, 40, 3), np.uint8)  # landscape, stored with "rotate 90 CW" orientation
    arr[:, :20] = 255
    img = Image.fromarray(arr)
    exif = img.getexif()
    exif[0x0112] = 6
    out = load_user_image(_save(img, tmp_path / "r.jpg", exif=exif, quality=95))
    assert out.shape == (40, 20, 3)  # shown upright: portrait
    assert out[5, 10].mean() > 200 and out[35, 10].mean() < 50  # the white half is now on top


def test_float_and_grey_arrays():
    assert load_user_image(np.ones((12, 9), np.float32)).tolist()[0][0] == [255, 255, 255]
    assert load_user_image(np.zeros((12, 9, 1), np.uint8)).shape == (12, 9, 3)


@pytest.mark.parametrize("content,needle", [
    (b"", "empty"),
    (b"hello, I am text", "not an image"),
    (b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, "not an image"),
])
def test_not_images(tmp_path, content, needle):
    path = tmp_path / "x.png"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=needle):
        load_user_image(path)


def test_truncated_png(tmp_path):
    arr = np.random.default_rng(1).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    full = _save(Image.fromarray(arr), tmp_path / "full.png").read_bytes()
    cut = tmp_path / "cut.png"
    cut.write_bytes(full[: len(full) // 2])
    with pytest.raises(ValueError, match="damaged or truncated"):
        load_user_image(cut)


def test_missing_file(tmp_path):
    with pytest.raises(ValueError, match="no such file"):
        load_user_image(tmp_path / "nope.png")


def test_huge_images_are_refused(tmp_path):
    side = int(MAX_PIXELS ** 0.5) + 50
    with pytest.raises(ValueError, match="MP"):
        load_user_image(np.zeros((side, side), np.uint8))
    path = _save(Image.new("L", (side, side)), tmp_path / "big.png")
    with pytest.raises(ValueError, match="MP"):
        load_user_image(path)


def test_bad_array_shapes():
    with pytest.raises(ValueError, match="shape"):
        load_user_image(np.zeros((4, 4, 2), np.uint8))
    with pytest.raises(ValueError, match="at least"):
        load_user_image(np.zeros((3, 100, 3), np.uint8))


def test_compare_with_another_teacher(models, example):
    """Any loaded model can be the teacher (BlazePose / ONNX appear the same way when installed)."""
    overlay, bars, summary = compare.compare(models, *example, "student", "distilpose")
    assert "OKS agreement with distilpose" in summary and "| student: synth-student | **" in summary
    assert len([t for t in overlay.data if t.type == "scatter"]) >= 2


def test_model_status_says_what_each_bundled_model_was_trained_on(tmp_path):
    """The models panel names the training data and the APs of the manifest beside a checkpoint."""
    import json

    from explorer.app import model_status

    folder = make_checkpoints(tmp_path)
    (folder / "manifest.json").write_text(json.dumps([
        {"name": "synth-teacher", "path": "checkpoints/synth-teacher.pt", "AP": 0.8123, "AP_easy": 0.9,
         "AP_medium": 0.7, "trained_on": "SynthPose easy + medium (128x96 crops)"}]))
    text = model_status(ModelSet.load(folder, warmup=False))
    teacher_line = next(line for line in text.splitlines() if "teacher" in line)
    assert "trained on SynthPose easy + medium (128x96 crops) only" in teacher_line
    assert "81.2 on its val set" in teacher_line and "90.0 on held-out easy" in teacher_line
    student_line = next(line for line in text.splitlines() if "student:" in line)
    assert "trained on" not in student_line  # not in the manifest: nothing is claimed
    (folder / "manifest.json").write_text("{broken")
    assert "trained on" not in model_status(ModelSet.load(folder, warmup=False))


def test_a_bundled_snapshot_loaded_as_a_file_says_what_its_run_trained_on(tmp_path):
    """``--distilpose checkpoints/distilpose/history/epoch_000.pt``: the bundled run folder keeps no
    data path, so the manifest row that names the run as its history gives the training data, and
    the file's own metrics the AP at that snapshot."""
    import json

    from explorer.provenance import provenance_of

    history = tmp_path / "distilpose" / "history"
    history.mkdir(parents=True)
    model = build_model("synth-regression")
    snap = save_model(model, history / "epoch_000.pt", metrics={"AP": 0.0123})
    (tmp_path / "manifest.json").write_text(json.dumps([
        {"name": "synth-regression", "path": "checkpoints/synth-regression.pt", "history": "checkpoints/distilpose",
         "trained_on": "SynthPose easy + medium (128x96 crops)"}]))
    text = provenance_of(model, str(snap)).text()
    assert "SynthPose easy + medium" in text and "val AP ×100 1.2 at that epoch" in text
    (tmp_path / "manifest.json").write_text(json.dumps([]))  # no row names the run: nothing is claimed
    assert "SynthPose" not in provenance_of(model, str(snap)).text()
