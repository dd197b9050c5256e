"""SynthPose generator: determinism, COCO format, label consistency, left/right cues, CLI."""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from sdpose_core.cli import main as cli_main
from sdpose_core.data.coco_meta import NUM_KEYPOINTS, PERSON_CATEGORY
from sdpose_core.data.synthpose import DIFFICULTIES, generate_dataset, render_sample, synthesize

REPO = Path(__file__).resolve().parents[1]
SIZE = (128, 96)


def _digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    return generate_dataset(tmp_path_factory.mktemp("synth") / "ds", num=12, seed=3,
                            difficulty="hard", progress=False)


@pytest.fixture(scope="module")
def medium_hard_samples() -> list:
    return [synthesize(11, i, SIZE, DIFFICULTIES[d]) for d in ("medium", "hard") for i in range(50)]


def test_same_seed_is_byte_identical_and_other_seed_differs(tmp_path):
    a = generate_dataset(tmp_path / "a", num=6, seed=7, progress=False)
    b = generate_dataset(tmp_path / "b", num=6, seed=7, progress=False)
    c = generate_dataset(tmp_path / "c", num=6, seed=8, progress=False)
    da, db, dc = _digest(a), _digest(b), _digest(c)
    assert len(da) == 7 and da == db
    assert da["annotations.json"] != dc["annotations.json"]
    assert all(da[k] != dc[k] for k in da if k.startswith("images"))


def test_layout_and_info_block(dataset):
    data = json.loads((dataset / "annotations.json").read_text())
    assert sorted(p.name for p in (dataset / "images").iterdir()) == [f"{i:06d}.png" for i in range(12)]
    assert [im["file_name"] for im in data["images"]] == [f"{i:06d}.png" for i in range(12)]
    assert data["categories"] == [PERSON_CATEGORY]
    info = data["info"]
    assert info["seed"] == 3 and info["size"] == [128, 96] and info["difficulty"] == "hard"
    assert "version" in info and not any("date" in k or "time" in k for k in info)


def test_pycocotools_loads_and_evaluates_gt_as_perfect(dataset):
    coco = COCO(str(dataset / "annotations.json"))
    assert coco.getCatIds(catNms=["person"]) == [1]
    img_ids = coco.getImgIds()
    assert len(img_ids) == 12
    for img_id in img_ids:
        ann_ids = coco.getAnnIds(imgIds=[img_id], iscrowd=False)
        assert len(ann_ids) == 1  # one labelled (main) person per crop
        ann = coco.loadAnns(ann_ids)[0]
        img = coco.loadImgs([img_id])[0]
        assert (img["height"], img["width"]) == SIZE
        assert (dataset / "images" / img["file_name"]).is_file()
        assert ann["category_id"] == 1 and ann["iscrowd"] == 0 and ann["area"] > 0
    results = [dict(image_id=a["image_id"], category_id=1, keypoints=a["keypoints"], score=1.0)
               for a in coco.loadAnns(coco.getAnnIds())]
    ev = COCOeval(coco, coco.loadRes(results), "keypoints")
    ev.evaluate(), ev.accumulate(), ev.summarize()
    assert ev.stats[0] == pytest.approx(1.0)


def test_keypoint_labels_are_consistent(dataset):
    data = json.loads((dataset / "annotations.json").read_text())
    h, w = SIZE
    for ann in data["annotations"]:
        kp = np.array(ann["keypoints"], dtype=float).reshape(NUM_KEYPOINTS, 3)
        v = kp[:, 2]
        assert set(v.tolist()) <= {0.0, 1.0, 2.0}
        assert ann["num_keypoints"] == int((v > 0).sum()) > 0
        lab = kp[v > 0, :2]
        assert (lab >= 0).all() and (lab[:, 0] <= w - 1).all() and (lab[:, 1] <= h - 1).all()
        assert (kp[v == 0, :2] == 0).all()
        assert np.allclose(lab * 16, np.round(lab * 16))  # drawn in 1/16 px fixed point
        x, y, bw, bh = ann["bbox"]
        assert bw > 0 and bh > 0 and x >= 0 and y >= 0 and x + bw <= w + 1e-6 and y + bh <= h + 1e-6
        assert (lab[:, 0] >= x).all() and (lab[:, 0] <= x + bw).all()
        assert (lab[:, 1] >= y).all() and (lab[:, 1] <= y + bh).all()


@pytest.mark.parametrize("difficulty", list(DIFFICULTIES))
def test_every_difficulty_renders(difficulty):
    img, kp, bbox = render_sample(0, 1, SIZE, difficulty)
    assert img.shape == (*SIZE, 3) and img.dtype == np.uint8 and img.std() > 5
    assert kp.shape == (NUM_KEYPOINTS, 3) and len(bbox) == 4
    img2, kp2, _ = render_sample(0, 1, SIZE, difficulty)
    assert np.array_equal(img, img2) and np.array_equal(kp, kp2)
    img3, _, _ = render_sample(0, 1, (160, 120), difficulty)
    assert img3.shape == (160, 120, 3)


def test_occlusion_and_truncation_appear(medium_hard_samples):
    for group in (medium_hard_samples[:50], medium_hard_samples[50:]):
        v = np.stack([s.keypoints[:, 2] for s in group])
        assert (v == 1).sum() > 50  # occluded but labelled
        assert (v == 0).any(axis=1).sum() >= 2  # truncated crops
        assert (v == 2).mean() > 0.4


def test_left_right_follows_the_face_cue(medium_hard_samples):
    """With both eyes seen the person faces the camera, so (torso up) x (left - right shoulder)
    is positive in image coordinates; with the back to the camera it is negative."""
    facing, away = [], []
    for s in medium_hard_samples:
        kp = s.keypoints
        if (kp[[5, 6, 11, 12], 2] == 0).any():
            continue
        up = (kp[5, :2] + kp[6, :2]) / 2 - (kp[11, :2] + kp[12, :2]) / 2
        d = kp[5, :2] - kp[6, :2]
        cross = up[0] * d[1] - up[1] * d[0]
        if kp[1, 2] == 2 and kp[2, 2] == 2:
            facing.append(cross > 0)
        if abs(s.yaw_deg) > 120:
            away.append(cross < 0)
    assert len(facing) >= 10 and np.mean(facing) >= 0.9
    assert len(away) >= 10 and np.mean(away) >= 0.9


def test_bad_arguments_raise_clear_errors(tmp_path):
    with pytest.raises(ValueError, match="num"):
        generate_dataset(tmp_path / "x", num=0, seed=0)
    with pytest.raises(ValueError, match="difficulty"):
        generate_dataset(tmp_path / "x", num=1, seed=0, difficulty="brutal")
    with pytest.raises(ValueError, match="too small"):
        generate_dataset(tmp_path / "x", num=1, seed=0, size=(16, 12))
    with pytest.raises(ValueError, match="seed"):
        render_sample(-1, 0)
    afile = tmp_path / "file.txt"
    afile.write_text("mine")
    with pytest.raises(ValueError, match="is a file"):
        generate_dataset(afile, num=1, seed=0, progress=False)
    assert afile.read_text() == "mine"


def test_existing_folder_keeps_other_files(tmp_path):
    out = tmp_path / "ds"
    (out / "images").mkdir(parents=True)
    (out / "notes.txt").write_text("keep")
    (out / "images" / "mine.jpg").write_bytes(b"x")
    generate_dataset(out, num=4, seed=1, progress=False)
    generate_dataset(out, num=2, seed=1, progress=False)  # smaller rerun drops its own extras only
    assert (out / "notes.txt").read_text() == "keep" and (out / "images" / "mine.jpg").exists()
    assert sorted(p.name for p in (out / "images").glob("0*.png")) == ["000000.png", "000001.png"]


def test_cli_main_writes_dataset(tmp_path, capsys):
    assert cli_main(["synth", "--out", str(tmp_path / "c"), "--num", "5", "--seed", "1", "--quiet"]) == 0
    data = json.loads((tmp_path / "c" / "annotations.json").read_text())
    assert len(data["images"]) == 5 and "wrote 5" in capsys.readouterr().out


def test_cli_module_subprocess(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    run = subprocess.run([sys.executable, "-m", "sdpose_core", "synth", "--out", str(tmp_path / "s"),
                          "--num", "5", "--seed", "1", "--difficulty", "easy", "--size", "64x48"],
                         cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert len(list((tmp_path / "s" / "images").glob("*.png"))) == 5


@pytest.mark.parametrize("args, message", [
    (["--num", "0"], "expected a number > 0"),
    (["--num", "3", "--difficulty", "brutal"], "invalid choice"),
    (["--num", "3", "--size", "10x10"], "out of range"),
    (["--num", "3", "--seed", "-4"], "seed must be"),
])
def test_cli_bad_values_exit_2(tmp_path, capsys, args, message):
    argv = ["synth", "--out", str(tmp_path / "bad"), "--quiet", *args]
    try:
        code = cli_main(argv)
    except SystemExit as exc:  # argparse rejects before our code runs
        code = exc.code
    assert code == 2
    assert message in capsys.readouterr().err


def test_cli_refuses_file_as_out(tmp_path, capsys):
    afile = tmp_path / "f"
    afile.write_text("x")
    assert cli_main(["synth", "--out", str(afile), "--num", "1", "--quiet"]) == 2
    assert "is a file" in capsys.readouterr().err


def test_mixed_difficulty_alternates_levels_crop_by_crop(tmp_path):
    """``easy+medium``: crop i is crop i of level i % 2 with the same seed, byte for byte."""
    mixed = generate_dataset(tmp_path / "mix", num=4, seed=5, difficulty="easy+medium", progress=False)
    easy = generate_dataset(tmp_path / "easy", num=4, seed=5, difficulty="easy", progress=False)
    medium = generate_dataset(tmp_path / "medium", num=4, seed=5, difficulty="medium", progress=False)
    for i in range(4):
        source = easy if i % 2 == 0 else medium
        name = f"images/{i:06d}.png"
        assert (mixed / name).read_bytes() == (source / name).read_bytes(), i
        assert (mixed / name).read_bytes() != ((medium if i % 2 == 0 else easy) / name).read_bytes(), i
    info = json.loads((mixed / "annotations.json").read_text())["info"]
    assert info["difficulty"] == "easy+medium"
    with pytest.raises(ValueError, match="unknown difficulty"):
        generate_dataset(tmp_path / "bad", num=2, seed=5, difficulty="easy+impossible", progress=False)
