"""The Heatmaps view draws the student's σ on the teacher's heatmap grid (issue 14: BlazePose's
64×48 maps against a 128×96 student whose σ is in its own 32×24 pixels)."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from sdpose_core.distill.distilpose import DistilPoseLoss
from sdpose_core.interpret.heatmaps import distilpose_heatmap_view, grid_scale, sigma_to_grid
from sdpose_core.models.outputs import CycleOutput

STUDENT_GRID, TEACHER_GRID = (32, 24), (64, 48)


def _student(sigma: float = 1.0, k: int = 17) -> CycleOutput:
    return CycleOutput(coords=torch.full((1, k, 2), 0.5), sigma=torch.full((1, k, 2), sigma),
                       score=torch.zeros(1, k, 1))


def _teacher(grid: tuple[int, int], k: int = 17) -> CycleOutput:
    return CycleOutput(heatmaps=torch.ones(1, k, *grid))  # peak 1 (the 'teacher_peak' amplitude)


def test_one_student_pixel_is_two_teacher_pixels_on_a_twice_finer_grid():
    np.testing.assert_allclose(grid_scale(STUDENT_GRID, TEACHER_GRID), [2.0, 2.0])
    np.testing.assert_allclose(sigma_to_grid(torch.tensor([[1.0, 1.5]]), STUDENT_GRID, TEACHER_GRID).numpy(),
                               [[2.0, 3.0]])
    np.testing.assert_allclose(grid_scale((64, 48), (32, 24)), [0.5, 0.5])
    with pytest.raises(ValueError, match="positive"):
        grid_scale((0, 24), TEACHER_GRID)


def test_the_simulated_heatmap_is_drawn_with_sigma_in_teacher_pixels():
    view = distilpose_heatmap_view(_student(1.0), _teacher(TEACHER_GRID), loss=DistilPoseLoss(),
                                   student_heatmap_size=STUDENT_GRID)  # official loss: no σ floor
    np.testing.assert_allclose(view.sigma, 2.0)
    np.testing.assert_allclose(view.student_sigma, 1.0)
    np.testing.assert_allclose(view.sigma_scale, [2.0, 2.0])
    row = view.simulated[0, 32]  # the student's point is (24, 32) on the 64×48 grid
    assert row[24] == pytest.approx(1.0)
    assert row[26] == pytest.approx(math.exp(-0.5), rel=1e-5)  # 1σ = 2 teacher pixels away
    same_grid = distilpose_heatmap_view(_student(1.0), _teacher(TEACHER_GRID), loss=DistilPoseLoss())
    np.testing.assert_allclose(same_grid.sigma, 1.0)  # no student grid: σ taken as teacher pixels
    assert same_grid.simulated[0, 32, 25] == pytest.approx(math.exp(-0.5), rel=1e-5)


def test_the_sigma_floor_is_in_student_pixels_too():
    # the distilpose recipe's loss draws σ + 1 student px: (1 + 1) x 2 = 4 teacher px
    view = distilpose_heatmap_view(_student(1.0), _teacher(TEACHER_GRID), student_heatmap_size=STUDENT_GRID)
    row = view.simulated[0, 32]
    assert row[28] == pytest.approx(math.exp(-0.5), rel=1e-5)
    np.testing.assert_allclose(view.sigma, 2.0)  # the head's σ, in teacher pixels


def test_the_same_student_covers_the_same_part_of_the_crop_on_either_teacher_grid():
    coarse = distilpose_heatmap_view(_student(1.3), _teacher(STUDENT_GRID), student_heatmap_size=STUDENT_GRID)
    fine = distilpose_heatmap_view(_student(1.3), _teacher(TEACHER_GRID), student_heatmap_size=STUDENT_GRID)
    crop = (128, 96)
    np.testing.assert_allclose(fine.sigma_in_crop(crop), coarse.sigma_in_crop(crop), rtol=1e-6)
    np.testing.assert_allclose(fine.centers_in_crop(crop), coarse.centers_in_crop(crop), rtol=1e-6)
    # every other row / column of the fine map is the coarse map (mu = p * W on both grids)
    np.testing.assert_allclose(fine.simulated[:, ::2, ::2], coarse.simulated, atol=1e-6)
