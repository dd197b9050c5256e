"""``sdpose distill-folder``: pseudo-labels from a teacher, cached heatmaps warped into each crop,
a student distilled by the ordinary Trainer, a loadable checkpoint, and clear errors."""
from __future__ import annotations

import json
import shutil
import warnings

import numpy as np
import pytest

from fake_teacher import BlobTeacher, peak_in_crop
from sdpose_core.cli import main
from sdpose_core.data.transforms import AugmentConfig
from sdpose_core.io.checkpoint import load_model
from sdpose_core.io.images import load_user_image
from sdpose_core.models.zoo import get_config
from sdpose_core.train.distill_folder import distill_folder
from sdpose_core.train.pseudo_label import PseudoLabelDataset, find_images, pseudo_label_folder
from sdpose_core.train.teacher import as_teacher, look

TINY = dict(epochs=1, batch_size=4, max_steps_per_epoch=2, progress=False)


@pytest.fixture(scope="module")
def cnn_run(real_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("distill") / "run"
    return distill_folder("synth-cnn-teacher", real_dir, out, recipe="distilpose", **TINY)


def test_distill_folder_end_to_end_writes_a_loadable_student(cnn_run, real_dir):
    photos = find_images(real_dir)
    assert cnn_run.labels.labelled == len(photos) == 7 and cnn_run.labels.skipped == []
    coco = json.loads(cnn_run.labels.annotation_file.read_text())
    assert len(coco["images"]) == len(coco["annotations"]) == 7
    assert all(len(a["keypoints"]) == 51 and a["num_keypoints"] > 0 for a in coco["annotations"])
    with np.load(cnn_run.labels.heatmap_file) as maps:
        assert maps["1"].shape[0] == 17 and maps["1_frame"].shape == (2, 3)
    model = load_model(cnn_run.model)
    assert model.config.name == "synth-regression" and model.config.head == "regression"
    record = cnn_run.history[-1]
    assert {"reg_loss", "reg2hm_loss", "score_loss", "total"} <= set(record) and np.isfinite(record["total"])
    assert (cnn_run.run / "history" / "epoch_000.pt").is_file()


def test_rerun_resumes_without_relabelling_or_retraining(cnn_run, real_dir):
    again = distill_folder("synth-cnn-teacher", real_dir, cnn_run.run, recipe="distilpose", **TINY)
    assert again.history == []  # every epoch is already there
    assert again.labels.annotation_file.read_bytes() == cnn_run.labels.annotation_file.read_bytes()


def test_external_teacher_heatmaps_land_on_its_keypoints_in_every_augmented_crop(real_dir, tmp_path):
    teacher = BlobTeacher()
    labels = pseudo_label_folder(as_teacher(teacher), real_dir / "coco", tmp_path / "pseudo", progress=False)
    assert labels.teacher == "blob-teacher" and labels.labelled == 4
    config = get_config("synth-student")
    augment = AugmentConfig(half_body_prob=0.0, rotation_factor=20.0, flip_prob=0.5)
    data = PseudoLabelDataset(labels.folder, config, repeats=4, augment=augment)
    flipped = 0
    for i in range(len(data)):
        item = data[i]
        flipped += bool(item["meta"]["flipped"])
        peaks = peak_in_crop(item["teacher_heatmaps"].numpy(), config.input_size)
        seen = item["visible"].numpy() > 0
        err = np.linalg.norm(peaks - item["keypoints"].numpy(), axis=1)[seen]
        stride = config.input_size[1] / config.out_heatmap_size[1]
        assert seen.sum() >= 5 and err.max() <= stride, (i, err)  # within one heatmap pixel
        assert item["teacher_weight"].shape == (17,)
    assert 0 < flipped < len(data)  # mirrored crops (left/right swapped) are covered


def test_sdpose_recipe_with_teacher_detection_box(real_dir, tmp_path):
    teacher = BlobTeacher()
    result = distill_folder(teacher, real_dir / "ochuman", tmp_path / "run", recipe="sdpose", box="teacher", **TINY)
    assert teacher.calls == 2 * 3  # two passes per photo: whole image, then its own box
    assert load_model(result.model).config.name == "synth-student"
    assert {"heatmap_loss", "total"} <= set(result.history[-1])


def test_unreadable_image_is_skipped_with_a_warning_and_counted(real_dir, tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    shutil.copy(real_dir / "coco" / "000000000785.jpg", folder / "good.jpg")
    (folder / "broken.jpg").write_bytes(b"not a jpeg at all")
    (folder / "notes.txt").write_text("ignored: not an image")
    with pytest.warns(UserWarning, match="broken.jpg"):
        labels = pseudo_label_folder(as_teacher(BlobTeacher()), folder, tmp_path / "pseudo", progress=False)
    assert labels.labelled == 1 and [name for name, _ in labels.skipped] == ["broken.jpg"]
    assert "skipped 1" in labels.summary()


@pytest.mark.parametrize("setup, message", [
    ("missing", "does not exist"),
    ("empty", "is empty"),
    ("no_images", "holds no images"),
    ("all_broken", "could be read"),
])
def test_bad_folders_give_clear_errors(tmp_path, setup, message):
    folder = tmp_path / "photos"
    if setup != "missing":
        folder.mkdir()
    if setup == "no_images":
        (folder / "readme.md").write_text("no photos here")
    if setup == "all_broken":
        (folder / "a.png").write_bytes(b"\x89PNG broken")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        with pytest.raises((ValueError, FileNotFoundError), match=message):
            distill_folder(BlobTeacher(), folder, tmp_path / "run", **TINY)


def test_missing_teacher_and_wrong_student_are_refused(real_dir, tmp_path):
    with pytest.raises(ValueError, match="teacher 'no-such-teacher.pt' not found"):
        distill_folder("no-such-teacher.pt", real_dir, tmp_path / "a", **TINY)
    with pytest.raises(ValueError, match="needs a student with a heatmap head"):
        distill_folder(BlobTeacher(), real_dir / "ochuman", tmp_path / "b", recipe="sdpose",
                       student="synth-regression", **TINY)
    with pytest.raises(ValueError, match="unknown recipe"):
        distill_folder(BlobTeacher(), real_dir, tmp_path / "c", recipe="dwpose-s1", **TINY)


def test_cli_reports_errors_as_one_line(tmp_path, capsys):
    code = main(["distill-folder", "--teacher", "synth-cnn-teacher", "--images", str(tmp_path / "none"),
                 "--out", str(tmp_path / "run")])
    assert code == 2
    err = capsys.readouterr().err
    assert "distill-folder: error:" in err and "does not exist" in err and "Traceback" not in err


@pytest.mark.parametrize("name", ["synth-regression", "synth-simcc"])
def test_regression_and_simcc_teachers_give_heatmaps_on_the_input_quarter_grid(real_dir, name):
    view = look(as_teacher(name), load_user_image(real_dir / "coco" / "000000000785.jpg"), "image")
    assert view.heatmaps.shape == (17, *get_config(name).out_heatmap_size)
    assert 0.5 < float(view.heatmaps.max()) <= 1.0 + 1e-6  # simulated / outer-product maps peak at 1
    assert view.keypoints.shape == (17, 2) and view.heatmap_to_image.shape == (2, 3)
