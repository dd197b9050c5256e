"""Live distillation: the student converges on the teacher's view of one photo; the explorer tab
streams progress, ends with an animated figure, and turns bad input into a message."""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import pytest

from fake_teacher import BlobTeacher
from sdpose_core.evaluate.agreement import AREA_PER_BOX_AREA, mean_pose_in_box
from sdpose_core.io.images import load_user_image
from sdpose_core.train.live import LIVE_STUDENT, LiveSnapshot, PhotoBatches, iter_live_distill, live_distill
from sdpose_core.train.teacher import as_teacher, look
from sdpose_core.viz import PoseDrawing
from sdpose_core.viz.live import live_animation_figure, live_loss_figure

gr = pytest.importorskip("gradio")

from conftest import write_random_checkpoints  # noqa: E402
from explorer.models import ModelSet  # noqa: E402
from explorer.tabs.live import STUDENTS, _summary, live  # noqa: E402


@pytest.fixture(scope="module")
def photo(real_dir):
    return real_dir / "coco" / "000000196141.jpg"


@pytest.fixture(scope="module")
def converged(photo):
    return live_distill(BlobTeacher(), str(photo), steps=80, snapshots=5, seed=0)


def test_live_distill_converges(converged):
    losses = np.asarray(converged.losses)
    assert converged.done and len(losses) == 80 and np.isfinite(losses).all()
    assert losses[-10:].mean() < losses[:10].mean()
    snaps = converged.snapshots
    assert [s.step for s in snaps] == [0, 20, 40, 60, 80]
    assert snaps[-1].loss < snaps[0].loss
    assert all(s.keypoints.shape == (17, 2) and s.scores.shape == (17,) for s in snaps)
    assert converged.student == LIVE_STUDENT.name and converged.recipe == "sdpose"


def test_live_distill_moves_the_student_towards_the_teacher(converged):
    teacher = converged.teacher.keypoints
    first, last = (np.linalg.norm(s.keypoints - teacher, axis=1).mean() for s in
                   (converged.snapshots[0], converged.snapshots[-1]))
    assert last < first


def test_agreement_uses_the_compare_convention_and_the_mean_pose_reference(converged):
    teacher, (_, _, w, h) = converged.teacher, converged.teacher.bbox
    on_teacher = LiveSnapshot(0, teacher.keypoints.copy(), teacher.scores, 0.0)
    at_mean = LiveSnapshot(0, mean_pose_in_box(teacher.bbox, converged.image_hw), teacher.scores, 0.0)
    same, mean = converged.agreement_at(on_teacher), converged.agreement_at(at_mean)
    assert same.oks == pytest.approx(1.0) and mean.oks == pytest.approx(mean.reference_mean_pose)
    assert mean.other_mean_pose == pytest.approx(1.0) and 0.0 < mean.oks < 1.0
    assert not same.area.annotated and same.area.value == pytest.approx(AREA_PER_BOX_AREA * w * h)
    annotated = converged.agreement_at(converged.snapshots[-1], annotated_area=0.25 * w * h)
    estimated = converged.agreement_at(converged.snapshots[-1])
    assert annotated.area.annotated and annotated.oks < estimated.oks  # a smaller person: a stricter scale
    assert annotated.reference_mean_pose < estimated.reference_mean_pose


def test_tab_summary_shows_the_agreement_beside_the_reference(converged):
    first, last = (converged.agreement_at(s) for s in (converged.snapshots[0], converged.snapshots[-1]))
    md = _summary(converged)
    assert f"| OKS agreement with the teacher | {first.oks:.3f} | **{last.oks:.3f}** |" in md
    assert f"| the mean pose in this box (reference) | {first.reference_mean_pose:.3f} |" in md
    assert "estimated person area" in md and "annotated person area 1,234 px²" in _summary(converged, 1234.0)


def test_augmented_batches_carry_warped_teacher_targets(photo):
    image = load_user_image(photo)
    view = look(as_teacher(BlobTeacher()), image, None)
    batches = PhotoBatches(image, view, LIVE_STUDENT)
    batch = batches.batch(4, np.random.default_rng(0))
    h, w = LIVE_STUDENT.out_heatmap_size
    assert batch["image"].shape == (4, 3, *LIVE_STUDENT.input_size)
    assert batch["teacher_heatmaps"].shape == (4, 17, h, w) and batch["heatmaps"].shape == (4, 17, h, w)
    assert float(batch["teacher_heatmaps"].amax()) > 0.5  # the teacher's peaks made it into the crops
    plain = batches.batch(2)  # no rng: the same plain crop twice
    assert np.array_equal(plain["image"][0].numpy(), plain["image"][1].numpy())


def test_regression_student_uses_the_distilpose_objective(photo):
    result = live_distill(BlobTeacher(), str(photo), steps=3, student="synth-regression", batch_size=2, snapshots=2)
    assert result.recipe == "distilpose" and len(result.losses) == 3 and len(result.snapshots) == 2


def test_closing_the_generator_early_is_safe(photo):
    stream = iter_live_distill(BlobTeacher(), str(photo), steps=40, report_every=5)
    first = next(stream)
    assert first.step == 5 and not first.done
    stream.close()  # what a cancelled request does
    assert live_distill(BlobTeacher(), str(photo), steps=2, snapshots=2).done


@pytest.mark.parametrize("kwargs, message", [
    (dict(steps=0), "steps must be"),
    (dict(steps=10, lr=-1.0), "learning rate"),
    (dict(steps=10, student="synth-simcc"), "heatmap or regression student"),
])
def test_live_distill_refuses_bad_options(photo, kwargs, message):
    with pytest.raises(ValueError, match=message):
        live_distill(BlobTeacher(), str(photo), **kwargs)


def test_figures(converged):
    image = np.zeros((40, 30, 3), np.uint8)
    teacher = PoseDrawing("teacher", converged.teacher.keypoints / 20, converged.teacher.scores)
    poses = [PoseDrawing(f"step {s.step}", s.keypoints / 20, s.scores) for s in converged.snapshots]
    fig = live_animation_figure(image, teacher, poses)
    assert len(fig.frames) == len(poses) == len(fig.layout.sliders[0].steps)
    assert fig.layout.updatemenus[0].buttons[0].method == "animate"
    loss = live_loss_figure(converged.losses, [s.step for s in converged.snapshots],
                            [s.loss for s in converged.snapshots], 80)
    assert len(loss.data) == 3 and loss.layout.yaxis.type == "log"
    with pytest.raises(ValueError, match="no snapshots"):
        live_animation_figure(image, teacher, [])


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    folder = write_random_checkpoints(tmp_path_factory.mktemp("ckpt"), names=("synth-teacher",))
    return ModelSet.load(folder, warmup=False)


def test_tab_streams_progress_and_ends_with_an_animation(models, photo):
    outputs = list(live(models, str(photo), "", "teacher", next(iter(STUDENTS)), 20))
    assert len(outputs) >= 2
    animation, loss, md = outputs[-1]
    assert isinstance(animation, go.Figure) and len(animation.frames) >= 2
    assert isinstance(loss, go.Figure) and "done: step 20/20" in md
    for early in outputs[:-1]:  # while training: the animation is left alone, the status moves
        assert not isinstance(early[0], go.Figure) and "training" in early[2]


@pytest.mark.parametrize("image, box, student, steps, message", [
    (None, "", "tiny CNN, heatmaps (fast)", 20, "no image"),
    ("photo", "1, 2, 3", "tiny CNN, heatmaps (fast)", 20, "four numbers"),
    ("photo", "", "a student that does not exist", 20, "pick a student"),
    ("photo", "", "tiny CNN, heatmaps (fast)", 0, "steps must be"),
    ("photo", "", "tiny CNN, heatmaps (fast)", 20, "must be a positive number of px²"),
])
def test_tab_bad_input_gives_a_message_not_an_exception(models, photo, image, box, student, steps, message):
    area = "-5" if "px²" in message else None
    outputs = list(live(models, str(photo) if image == "photo" else image, box, "teacher", student, steps, area))
    assert len(outputs) == 1
    fig, _, md = outputs[0]
    assert isinstance(fig, go.Figure) and message in md
