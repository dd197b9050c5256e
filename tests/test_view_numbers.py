"""The numbers behind the explorer's views (issue 14, items 3-6), asserted as values: OKS with the
COCO area convention and its mean-pose reference, collapse flags, the two rollouts of a
Multi-Cycled Transformer, attention as a ratio to uniform, attribution of a gradient-free model."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from sdpose_core.data.coco_meta import FLIP_PAIRS, NUM_KEYPOINTS
from sdpose_core.data.synthpose.generate import render_sample
from sdpose_core.evaluate.agreement import (AREA_PER_BOX_AREA, MEAN_POSE, agreement, find_annotated_area,
                                            mean_pose_from_labels, mean_pose_in_box, oks_between, person_area)
from sdpose_core.interpret import (attention_rollout, collapse_report, cycle_rollouts, left_right_difference,
                                   ratio_to_uniform)
from sdpose_core.interpret.attribution import NoGradientError, attribution_panels, keypoint_attribution
from sdpose_core.interpret.collapse import LIMITS
from sdpose_core.io.checkpoint import load_model
from sdpose_core.models.outputs import CycleOutput
from sdpose_core.models.zoo import CHECKPOINT_DIR, build_model
from sdpose_core.viz.attention import RATIO_SCALE, attention_grid_figure, ratio_color

SKIER = [280.79, 44.73, 218.7, 346.68]  # ../shared/real/coco/000000000785.jpg, annotated area 27789.11


# ---- OKS agreement: area convention and mean-pose reference ---------------------------------------
def test_mean_pose_prediction_scores_the_reference():
    rng = np.random.default_rng(0)
    reference = mean_pose_in_box(SKIER, (425, 640)) + rng.normal(0, 15, (NUM_KEYPOINTS, 2))
    mean = mean_pose_in_box(SKIER, (425, 640))
    agree = agreement(reference, mean, SKIER, (425, 640), annotated_area=27789.11)
    assert agree.oks == pytest.approx(agree.reference_mean_pose, abs=1e-12)
    assert agree.other_mean_pose == pytest.approx(1.0)
    assert agree.area.annotated and agree.area.value == pytest.approx(27789.11)
    same = agreement(reference, reference, SKIER, (425, 640))
    assert same.oks == pytest.approx(1.0) and same.reference_mean_pose < 1.0


def test_area_convention():
    est = person_area(SKIER, (425, 640))
    assert not est.annotated and est.value == pytest.approx(AREA_PER_BOX_AREA * 218.7 * 346.68)
    assert "(0.53 × box area 75,819 px², mmpose's rule)" in est.describe()
    assert person_area(None, (100, 80)).value == pytest.approx(0.53 * 8000)
    assert person_area(SKIER, (425, 640), 27789.11).describe().startswith("annotated person area 27,789")
    for bad in (0, -3, float("nan")):
        with pytest.raises(ValueError, match="positive"):
            person_area(SKIER, (425, 640), bad)
    # the smaller (annotated) area is the stricter scale: the same error scores lower
    a = mean_pose_in_box(SKIER, (425, 640))
    b = a + 10.0
    assert oks_between(a, b, 27789.11) < oks_between(a, b, est.value) < oks_between(a, b, 218.7 * 346.68)


def test_mean_pose_lands_in_the_box_crop():
    pts = mean_pose_in_box([0, 0, 96, 128], (128, 96))  # box already 3:4: crop = box x 1.25 about its centre
    np.testing.assert_allclose(pts, (MEAN_POSE - 0.5) * [120, 160] + [48, 64])
    assert MEAN_POSE[0, 1] < MEAN_POSE[5, 1] < MEAN_POSE[11, 1] < MEAN_POSE[13, 1] < MEAN_POSE[15, 1]  # head to feet


def test_mean_pose_constant_matches_synthpose():
    """MEAN_POSE came from 2000 crops of seed 0; the first 500 give the same pose within sampling
    noise (measured: 0.009 across, 0.005 down)."""
    samples = [render_sample(0, i, (128, 96), "easy" if i % 2 == 0 else "medium") for i in range(500)]
    mean = mean_pose_from_labels(np.stack([s[1] for s in samples]), np.stack([s[2] for s in samples]))
    assert np.abs(mean - MEAN_POSE)[:, 0].max() < 0.02 and np.abs(mean - MEAN_POSE)[:, 1].max() < 0.01


def test_find_annotated_area(tmp_path):
    coco = {"images": [{"id": 7, "file_name": "sub/a.jpg"}],
            "annotations": [{"image_id": 7, "bbox": [10, 20, 30, 40], "area": 555.5}]}
    assert find_annotated_area(coco, "/tmp/upload/a.jpg", [10.4, 20, 30, 39.5]) == 555.5
    assert find_annotated_area(coco, "a.jpg", [15, 20, 30, 40]) is None  # another box
    assert find_annotated_area(coco, "b.jpg", [10, 20, 30, 40]) is None
    assert find_annotated_area(tmp_path / "missing.json", "a.jpg", [10, 20, 30, 40]) is None


# ---- collapse flags -------------------------------------------------------------------------------
class ConstantRegression(nn.Module):
    """A regression 'student' that outputs the mean pose and one σ whatever it is shown."""

    def __init__(self) -> None:
        super().__init__()
        self.config = build_model("synth-regression").config

    def forward(self, images, cycles=None, return_attention=False):
        b = images.shape[0]
        coords = torch.as_tensor(MEAN_POSE, dtype=torch.float32).expand(b, -1, -1).clone()
        sigma = torch.tensor([1.48, 0.16]).expand(b, NUM_KEYPOINTS, 2).clone()
        return [CycleOutput(coords=coords, sigma=sigma, score=torch.zeros(b, NUM_KEYPOINTS, 1))]


def test_identical_left_right_maps_are_flagged():
    rng = np.random.default_rng(1)
    maps = rng.random((NUM_KEYPOINTS, 16, 12))
    for a, b in FLIP_PAIRS:
        maps[b] = maps[a]
    assert left_right_difference(maps) == 0.0 < LIMITS["left_right_heatmaps"][0]
    apart = np.zeros((NUM_KEYPOINTS, 16, 12))
    for k in range(NUM_KEYPOINTS):
        apart[k, k % 16, k % 12] = 1.0
    assert left_right_difference(apart) == pytest.approx(np.sqrt(2))


def test_constant_output_is_flagged():
    report = collapse_report(ConstantRegression())
    flagged = {c.name: c for c in report.flags}
    assert {"keypoints_fixed", "left_right_same", "sigma_fixed"} <= set(flagged)
    assert flagged["keypoints_fixed"].value == pytest.approx(0.0, abs=1e-9)
    assert flagged["sigma_fixed"].value == pytest.approx(0.0, abs=1e-6)
    assert "(1.48, 0.16)" in flagged["sigma_fixed"].message
    assert report.value("at_mean_pose") > LIMITS["at_mean_pose"][0]


@pytest.mark.skipif(not (CHECKPOINT_DIR / "synth-regression.pt").is_file(), reason="bundled checkpoints missing")
def test_trained_student_is_not_flagged():
    model = load_model(CHECKPOINT_DIR / "synth-regression.pt")
    report = collapse_report(model)
    assert report.flags == [], [c.message for c in report.flags]
    assert collapse_report(model) is report  # cached per model


# ---- rollout through cycles, ratio to uniform -----------------------------------------------------
def _random_attention(rng, t: int) -> torch.Tensor:
    a = torch.as_tensor(rng.random((1, 2, t, t)), dtype=torch.float32)
    return a / a.sum(-1, keepdim=True)


def test_cumulative_rollout_is_the_product_of_cycle_rollouts():
    rng = np.random.default_rng(0)
    t = NUM_KEYPOINTS + 6
    cycles = [[_random_attention(rng, t) for _ in range(3)] for _ in range(3)]
    r1, r2, r3 = (attention_rollout(c) for c in cycles)
    within, cumulative = cycle_rollouts(cycles, 2)
    assert torch.allclose(within, r2)
    assert torch.allclose(cumulative, r2 @ r1, atol=1e-6)
    assert torch.allclose(cycle_rollouts(cycles, 3)[1], r3 @ r2 @ r1, atol=1e-6)
    first_within, first_cumulative = cycle_rollouts(cycles, 1)
    assert torch.allclose(first_within, first_cumulative)
    with pytest.raises(ValueError, match="out of range"):
        cycle_rollouts(cycles, 4)


def test_uniform_attention_is_ratio_one_and_the_neutral_colour():
    t, grid = 65, (8, 6)
    uniform = torch.full(grid, 1.0 / t)
    ratio = ratio_to_uniform(uniform, t)
    np.testing.assert_allclose(ratio, 1.0)
    neutral = "rgba({},{},{},{})".format(*RATIO_SCALE[2][1])
    assert RATIO_SCALE[2][0] == 0.5 and RATIO_SCALE[2][1][3] == 0.0  # the middle of the scale is transparent
    assert ratio_color(1.0) == "rgba(247,247,247,0.000)" and neutral.endswith(",0.0)")
    assert ratio_color(4.0) == "rgba(178,24,43,0.900)" and ratio_color(0.25) == "rgba(33,102,172,0.900)"
    assert ratio_color(8.0) == ratio_color(4.0) and ratio_color(2.0, limit=1.0) == ratio_color(4.0)
    # the case: noise from 0.013 to 0.0145 under 1/65 stays near the neutral colour
    noise = ratio_to_uniform(np.linspace(0.013, 0.0145, 48).reshape(grid), t)
    assert all(float(ratio_color(r).rsplit(",", 1)[1][:-1]) < 0.2 for r in noise.ravel())
    fig = attention_grid_figure(np.zeros((128, 96, 3), np.uint8), [ratio], ["uniform"], ratio=True)
    heat = next(tr for tr in fig.data if tr.type == "heatmap")
    assert np.allclose(np.asarray(heat.z), 0.0) and heat.zmin == -heat.zmax  # log2(1) at the centre
    assert np.allclose(np.asarray(heat.customdata), 1.0)


# ---- attribution of a model without input gradients -----------------------------------------------
class NoGradModel(nn.Module):
    """A trained-looking model whose output is cut from the autograd graph (like TFLite / ONNX)."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner, self.config = inner, inner.config

    def forward(self, images, cycles=None, return_attention=False):
        with torch.no_grad():
            return [o.detach() for o in self.inner(images, cycles=1)]


def test_attribution_of_a_gradient_free_model():
    pytest.importorskip("captum")
    torch.manual_seed(0)
    student = build_model("synth-student").eval()
    teacher = NoGradModel(build_model("synth-teacher").eval())
    image = render_sample(3, 0)[0]
    with pytest.raises(NoGradientError, match="occlusion"):
        keypoint_attribution(teacher, image, 9, method="saliency")
    panels = attribution_panels([("teacher", teacher), ("student", student)], image, 9, method="saliency")
    assert panels[0].map is None and "no gradient" in panels[0].reason and "saliency" in panels[0].reason
    assert panels[1].map.shape == (128, 96) and panels[1].map.max() == pytest.approx(1.0) and panels[1].reason == ""
    occluded = attribution_panels([("teacher", teacher)], image, 9, method="occlusion")[0]
    assert occluded.map is not None and occluded.map.max() == pytest.approx(1.0)


def test_long_panel_titles_wrap_instead_of_running_off_the_figure():
    crop = np.zeros((64, 48, 3), np.uint8)
    maps = [np.random.default_rng(0).random((4, 3)) for _ in range(3)]
    long = "left_wrist: cycle 2, layer 0, head 0"
    fig = attention_grid_figure(crop, maps, [long, "rollout", "rollout through cycles 1–2"])
    texts = [a.text for a in fig.layout.annotations][:3]
    assert texts[0].replace("<br>", " ") == long and "<br>" in texts[0]
    assert all(len(line) <= 30 for line in texts[0].split("<br>")) and texts[1] == "rollout"
