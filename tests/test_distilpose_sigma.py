"""DistilPose's simulated-heatmap options: the official peak-1 Gaussian and its sigma trap, and the
recipe's intended form (peak at the teacher's maximum, sigma floor)."""
from __future__ import annotations

import math

import pytest
import torch

from sdpose_core.distill.distilpose import DistilPoseLoss, Reg2HMLoss, simulated_heatmap
from sdpose_core.train.recipes import DISTILPOSE_INTENT, get_recipe

SIZE = (32, 24)


def _best_sigma(loss: Reg2HMLoss, peak: float) -> float:
    """Grid-search the isotropic sigma minimising the loss at the teacher's exact centre."""
    centre = torch.tensor([[[0.5, 0.5]]])
    teacher = simulated_heatmap(centre, torch.full((1, 1, 2), 2.0), SIZE) * peak
    grid = torch.linspace(0.05, 4.0, 400)
    values = [float(loss(centre, torch.full((1, 1, 2), float(s)), teacher)) for s in grid]
    return float(grid[min(range(len(values)), key=values.__getitem__)])


@pytest.mark.parametrize("peak", [1.0, 0.6, 0.4])
def test_peak_one_gaussian_wants_a_narrower_sigma_than_the_teacher(peak):
    """Official: at the right place the best sigma obeys sigma^2 = 8 sqrt(a) - 4 (continuous maths;
    the pixel grid holds while sigma is above a pixel)."""
    expected = math.sqrt(8 * math.sqrt(peak) - 4)
    assert _best_sigma(Reg2HMLoss(), peak) == pytest.approx(expected, abs=0.06)


def test_low_teacher_peak_drives_the_official_sigma_below_a_pixel():
    """For a <= 0.25 the continuous optimum is sigma = 0; on the grid it ends below one pixel."""
    assert _best_sigma(Reg2HMLoss(), 0.2) < 1.0


@pytest.mark.parametrize("peak", [1.0, 0.5, 0.2])
def test_teacher_peak_amplitude_recovers_the_teacher_sigma(peak):
    assert _best_sigma(Reg2HMLoss(amplitude="teacher_peak"), peak) == pytest.approx(2.0, abs=0.05)


def test_teacher_peak_simulated_heatmap_peaks_at_the_teacher_maximum():
    coords, sigma = torch.tensor([[[0.5, 0.5], [0.25, 0.75]]]), torch.full((1, 2, 2), 1.5)
    teacher = torch.rand(1, 2, *SIZE) * torch.tensor([0.3, 0.8]).view(1, 2, 1, 1)
    maps, _ = Reg2HMLoss(amplitude="teacher_peak").simulate(coords, sigma, teacher)
    assert torch.allclose(maps.flatten(2).amax(-1), teacher.flatten(2).amax(-1), atol=1e-6)
    ones, _ = Reg2HMLoss().simulate(coords, sigma, teacher)
    assert torch.allclose(ones.flatten(2).amax(-1), torch.ones(1, 2), atol=1e-6)


def test_min_sigma_is_added_and_defaults_keep_the_official_loss():
    loss = Reg2HMLoss(min_sigma=1.0)
    assert torch.equal(loss.effective_sigma(torch.tensor([0.0, 0.5])), torch.tensor([1.0, 1.5]))
    coords, sigma = torch.rand(2, 17, 2), torch.rand(2, 17, 2) + 0.1
    teacher = torch.rand(2, 17, *SIZE)
    official = DistilPoseLoss().reg2hm_loss(coords, sigma, teacher)
    assert torch.equal(Reg2HMLoss()(coords, sigma, teacher), official)
    assert not torch.equal(loss(coords, sigma, teacher), official)
    with pytest.raises(ValueError, match="min_sigma"):
        Reg2HMLoss(min_sigma=-1.0)
    with pytest.raises(ValueError, match="amplitude"):
        Reg2HMLoss(amplitude="two")


def test_sub_pixel_sigma_gives_a_spiky_coordinate_gradient_and_the_floor_smooths_it():
    """The trap's second half: with sigma << 1 px the coordinate gradient of the loss swings with
    sub-pixel offsets; with the 1 px floor it varies smoothly."""
    teacher = simulated_heatmap(torch.tensor([[[0.5, 0.5]]]), torch.full((1, 1, 2), 2.0), SIZE) * 0.7
    offsets = torch.linspace(0, 1 / SIZE[1], 11)

    def grads(loss: Reg2HMLoss) -> torch.Tensor:
        out = []
        for dx in offsets:
            coords = torch.tensor([[[0.5 + 2 / SIZE[1] + float(dx), 0.5]]], requires_grad=True)
            loss(coords, torch.full((1, 1, 2), 0.1), teacher).backward()
            out.append(coords.grad[0, 0, 0])
        return torch.stack(out)

    spiky, smooth = grads(Reg2HMLoss()), grads(Reg2HMLoss(min_sigma=1.0))
    assert spiky.diff().abs().max() > 20 * smooth.diff().abs().max()


def test_recipes_table_carries_the_distilpose_forms():
    assert dict(get_recipe("distilpose").loss_options) == dict(DISTILPOSE_INTENT)
    assert dict(DISTILPOSE_INTENT) == {"amplitude": "teacher_peak", "min_sigma": 1.0}
    assert get_recipe("distilpose-official").loss_options == ()
    assert get_recipe("distilpose-official").teacher_head == "heatmap"


def test_distilpose_loss_without_tokens_leaves_out_the_token_terms():
    """One term sum for every caller: against cached teacher heatmaps (no teacher tokens) the loss has
    the GT, score and simulated-heatmap terms only, and ``total`` is their sum."""
    torch.manual_seed(0)
    b, k = 2, 17
    teacher = simulated_heatmap(torch.rand(b, k, 2), torch.full((b, k, 2), 2.0), SIZE)
    terms = DistilPoseLoss()(torch.rand(b, k, 2), torch.full((b, k, 2), 1.5), torch.rand(b, k, 1), None, None,
                             teacher, None, None, torch.ones(b, k, 2), torch.rand(b, k, 2))
    assert list(terms) == ["reg_loss", "score_loss", "reg2hm_loss", "total"]
    assert terms["total"] == terms["reg_loss"] + terms["score_loss"] + terms["reg2hm_loss"]
