"""BlazePose's crop search, second pass and person heatmaps, with a scripted network (issue 14.2).

No model file and no TFLite runtime: the runner is a stand-in that records the squares it is
shown and answers from a script, so these run everywhere; tests/test_blazepose.py measures the
real network on ../shared/real.
"""
from __future__ import annotations

import numpy as np
import pytest

from sdpose_core.data.codecs import MSRAHeatmap
from sdpose_core.data.transforms import apply_affine, get_affine_matrix, invert_affine
from sdpose_core.real.blazepose import (COCO_FROM_BLAZEPOSE, HM_STRIDE, NET_SIZE, SEARCH_SCALES,
                                        local_heatmaps, roi_from_landmarks, search_pass)


class ScriptedRunner:
    """Answers call i with landmarks ``points[i]`` (39, 2) in network pixels and ``presence[i]``;
    heatmap logits are flat (-10) unless ``logits`` is given."""

    def __init__(self, points: list[np.ndarray], presence: list[float], logits: np.ndarray | None = None):
        self.points, self.presence, self.logits = points, presence, logits
        self.calls = 0

    def __call__(self, rgb01: np.ndarray):
        assert rgb01.shape == (NET_SIZE, NET_SIZE, 3)
        i = self.calls
        self.calls += 1
        landmarks = np.zeros((39, 5), np.float32)
        landmarks[:, :2] = self.points[i]
        landmarks[:, 3] = 4.0  # visibility logit: sigmoid ~0.98
        logits = self.logits if self.logits is not None else np.full((64, 64, 39), -10.0, np.float32)
        return landmarks, logits, self.presence[i]


def _body(centre=(128.0, 128.0), half_height=60.0) -> np.ndarray:
    """39 landmarks in network pixels: all at ``centre`` but 34, straight above 33 (upright body)."""
    pts = np.tile(np.asarray(centre, np.float32), (39, 1))
    pts[34] = (centre[0], centre[1] - half_height)
    pts[COCO_FROM_BLAZEPOSE[0]] = (centre[0], centre[1] - 1.5 * half_height)  # nose
    return pts


def _square(crop_hw, scale):
    h, w = crop_hw
    side = max(h, w) * scale
    return get_affine_matrix(np.array([w / 2, h / 2]), np.array([side, side]), 0.0, (NET_SIZE, NET_SIZE))


@pytest.mark.parametrize("best", range(len(SEARCH_SCALES)))
def test_search_keeps_the_most_confident_square_and_starts_the_second_pass_from_it(best):
    crop = np.zeros((256, 192, 3), np.float32)
    first = [_body((128.0 + 10 * i, 128.0), 50.0 + 10 * i) for i in range(len(SEARCH_SCALES))]
    presence = [0.3] * len(SEARCH_SCALES)
    presence[best] = 0.9
    runner = ScriptedRunner(first + [_body()], presence + [1.0])
    result = search_pass(runner, crop)
    assert runner.calls == len(SEARCH_SCALES) + 1
    # the second square is MediaPipe's region of the chosen first pass, in crop pixels
    chosen = apply_affine(first[best], invert_affine(_square(crop.shape[:2], SEARCH_SCALES[best])))
    centre, side, rotation = roi_from_landmarks(chosen)
    expected = get_affine_matrix(centre, np.array([side, side]), rotation, (NET_SIZE, NET_SIZE))
    np.testing.assert_allclose(result.net_from_crop, expected, atol=1e-6)
    np.testing.assert_allclose(result.keypoints[0], apply_affine(_body()[:1], invert_affine(expected))[0], atol=1e-3)


def test_degenerate_region_keeps_the_first_pass():
    """Landmarks 33 and 34 on top of each other give no region: the chosen first pass is the answer."""
    flat = np.full((39, 2), 100.0, np.float32)
    runner = ScriptedRunner([flat] * len(SEARCH_SCALES), [0.1, 0.8, 0.2])
    result = search_pass(runner, np.zeros((256, 192, 3), np.float32))
    assert runner.calls == len(SEARCH_SCALES)
    np.testing.assert_allclose(result.net_from_crop, _square((256, 192), SEARCH_SCALES[1]), atol=1e-6)
    assert result.confidence == pytest.approx(0.8 * (1 / (1 + np.exp(-4.0))), rel=1e-5)


def _decode(maps: np.ndarray) -> np.ndarray:
    codec = MSRAHeatmap((NET_SIZE, NET_SIZE), (64, 64), sigma=2.0, unbiased=True)
    return codec.decode(maps[None])[0][0] / HM_STRIDE  # heatmap cells


def test_a_neighbours_stronger_joint_does_not_win_the_person_heatmap():
    """Two peaks on one heatmap: the neighbour's (stronger, 20 cells away) and the person's, 1 cell
    off its regressed landmark. The person heatmap decodes to the person's peak."""
    yy, xx = np.mgrid[0:64, 0:64]
    own, neighbour, landmark = np.array([30.0, 30.0]), np.array([50.0, 30.0]), np.array([31.0, 30.0])
    prob = (0.6 * np.exp(-((xx - own[0]) ** 2 + (yy - own[1]) ** 2) / 8.0)
            + 0.95 * np.exp(-((xx - neighbour[0]) ** 2 + (yy - neighbour[1]) ** 2) / 8.0))
    logits = np.log(np.clip(prob, 1e-6, 1 - 1e-6) / np.clip(1 - prob, 1e-6, 1))[:, :, None]
    assert np.linalg.norm(_decode(1 / (1 + np.exp(-logits.transpose(2, 0, 1)))) - neighbour) < 1.0
    person = local_heatmaps(logits, landmark[None])
    assert person.shape == (1, 64, 64) and 0.0 <= person.min() and person.max() <= 1.0
    assert np.linalg.norm(_decode(person) - own) < 1.0


def test_a_flat_heatmap_peaks_at_the_regressed_landmark():
    person = local_heatmaps(np.full((64, 64, 2), -20.0, np.float32), np.array([[12.0, 40.0], [50.0, 7.0]]))
    np.testing.assert_allclose(_decode(person), [[12.0, 40.0], [50.0, 7.0]], atol=0.5)
