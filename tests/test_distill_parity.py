"""Distillation losses vs the official golden fixtures, plus hand-computed and gradient checks."""
from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from sdpose_core.distill import (
    DistilPoseLoss,
    DWPoseStage1Loss,
    DWPoseStage2Loss,
    FeatureLoss,
    KDLoss,
    KLDiscretLoss,
    Reg2HMLoss,
    ScoreLoss,
    SDPoseLoss,
    TokenDistilLoss,
    coord_smooth_l1_loss,
    joints_mse_loss,
    simcc_kd_term,
    simulated_heatmap,
    stage1_decay,
)
from sdpose_core.models.outputs import CycleOutput

REL = 1e-5


def _load(path: Path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=True)


def _close(value: torch.Tensor | float, expected: torch.Tensor | float, rel: float = REL) -> None:
    value, expected = (torch.as_tensor(v).detach() for v in (value, expected))
    assert float(value) == pytest.approx(float(expected), rel=rel, abs=1e-12)


@pytest.fixture(scope="module")
def distil_io(official_dir: Path) -> dict:
    return _load(official_dir / "distilpose" / "io.pt")


@pytest.fixture(scope="module")
def dw_io(official_dir: Path) -> dict:
    return _load(official_dir / "dwpose" / "io.pt")


def _distil_args(inp: dict) -> tuple:
    return (inp["pred"], inp["sigma"], inp["score"], inp["student_kpt_token"],
            inp["student_vis_token"], inp["teacher_hm"], inp["teacher_kpt_token"],
            inp["teacher_vis_token"], inp["target_weight"])


# ---------------------------------------------------------------- SDPose

@pytest.mark.parametrize("variant", ["sdpose_t", "sdpose_s_v2"])
def test_sdpose_loss_matches_official(official_dir: Path, variant: str) -> None:
    io = _load(official_dir / variant / "io.pt")
    check, cycles = io["loss_check"], io["cycles"]
    records = [CycleOutput(heatmaps=c["pred"], keypoint_tokens=c["kpt_token"],
                           visual_tokens=c["vis_token"]) for c in cycles]
    out = SDPoseLoss().from_cycles(records, check["target"], check["target_weight"])
    for name, expected in check["losses"].items():
        _close(out[name], expected)
    _close(out["total"], sum(float(v) for v in check["losses"].values()))


def test_sdpose_single_cycle_has_zero_token_loss() -> None:
    hm, t = torch.rand(2, 3, 4, 4), torch.rand(2, 3, 4, 4)
    out = SDPoseLoss()([hm], [torch.randn(2, 3, 8)], [torch.randn(2, 5, 8)], t, torch.ones(2, 3, 1))
    assert float(out["kpt_dist_loss"]) == 0.0 and float(out["vis_dist_loss"]) == 0.0
    _close(out["heatmap_loss"], F.mse_loss(hm, t))


@pytest.mark.parametrize("detach", [False, True])
def test_sdpose_gradient_reaches_cycles(detach: bool) -> None:
    kpt = [torch.randn(2, 3, 8, requires_grad=True) for _ in range(2)]
    vis = [torch.randn(2, 5, 8, requires_grad=True) for _ in range(2)]
    hm = [torch.rand(2, 3, 4, 4) for _ in range(2)]
    out = SDPoseLoss(detach_target=detach)(hm, kpt, vis, torch.rand(2, 3, 4, 4))
    (out["kpt_dist_loss"] + out["vis_dist_loss"]).backward()
    for toks in (kpt, vis):
        assert toks[0].grad is not None and toks[0].grad.abs().sum() > 0
        later = toks[1].grad
        assert (later is None) if detach else (later.abs().sum() > 0)


# ---------------------------------------------------------------- common pieces

def test_token_loss_hand_computed() -> None:
    s, t = torch.zeros(1, 2, 2), torch.tensor([[[1.0, 2.0], [3.0, 4.0]]])
    # mean of squares = (1 + 4 + 9 + 16) / 4 = 7.5
    _close(TokenDistilLoss(5e-4)(s, t), 7.5 * 5e-4)


def test_joints_mse_no_half_factor_and_weighting() -> None:
    pred, target = torch.ones(2, 2, 1, 2), torch.zeros(2, 2, 1, 2)
    w = torch.tensor([[1.0, 0.0], [1.0, 1.0]])
    _close(joints_mse_loss(pred, target), 1.0)
    _close(joints_mse_loss(pred, target, w), (1.0 + 0.5) / 2)  # per-sample weighting
    pred2 = torch.tensor([[[[2.0]], [[2.0]]], [[[0.0]], [[0.0]]]])  # only sample 0 is wrong
    # per sample: joint 0 -> mean(1*4, 1*0) = 2, joint 1 -> mean(0*4, 1*0) = 0
    _close(joints_mse_loss(pred2, torch.zeros_like(pred2), w), (2.0 + 0.0) / 2)
    # broadcast quirk: mean_i(w_ik^2) * mean_j(d_jk^2): joint 0 -> 1 * 2, joint 1 -> 0.5 * 2
    _close(joints_mse_loss(pred2, torch.zeros_like(pred2), w, batch_broadcast=True), 1.5)


def test_joints_mse_equals_literal_per_joint_loop() -> None:
    g = torch.Generator().manual_seed(0)
    pred, target = torch.rand(3, 4, 5, 6, generator=g), torch.rand(3, 4, 5, 6, generator=g)
    w = torch.rand(3, 4, 1, generator=g)  # fractional weights
    p, t = pred.reshape(3, 4, -1), target.reshape(3, 4, -1)
    per_sample = sum(F.mse_loss(p[:, k] * w[:, k], t[:, k] * w[:, k]) for k in range(4)) / 4
    w4 = w.unsqueeze(-1)  # (B, K, 1, 1) as Reg2HMLoss passes it: (B, HW) * (B, 1, 1) -> (B, B, HW)
    broadcast = sum(F.mse_loss(p[:, k] * w4[:, k], t[:, k] * w4[:, k]) for k in range(4)) / 4
    _close(joints_mse_loss(pred, target, w), per_sample)
    _close(joints_mse_loss(pred, target, w, batch_broadcast=True), broadcast)


# ---------------------------------------------------------------- DistilPose

def test_distilpose_losses_match_official(distil_io: dict) -> None:
    out = DistilPoseLoss()(*_distil_args(distil_io["inputs"]))
    for name, expected in distil_io["losses"].items():
        _close(out[name], expected)
    assert "reg_loss" not in out  # no GT coordinates given


def test_reg2hm_per_sample_option_matches_nk1(distil_io: dict) -> None:
    out = DistilPoseLoss(per_sample_weighting=True)(*_distil_args(distil_io["inputs"]))
    _close(out["reg2hm_loss"], distil_io["reg2hm_loss_if_weight_were_NK1"])
    inp = distil_io["inputs"]
    official = Reg2HMLoss()(inp["pred"], inp["sigma"], inp["teacher_hm"], inp["target_weight"])
    assert abs(float(official) - float(out["reg2hm_loss"])) > 1e-5  # the quirk is real


def test_distilpose_intermediates_match_official(distil_io: dict) -> None:
    inp = distil_io["inputs"]
    im = DistilPoseLoss().intermediates(inp["pred"], inp["sigma"], inp["teacher_hm"],
                                        inp["target_weight"])
    assert (im["simulated_heatmaps"] - distil_io["simulated_heatmaps"]).abs().max() <= 1e-6
    assert torch.equal(im["reg2hm_target_weight"], distil_io["reg2hm_target_weight"])
    assert torch.equal(im["score_index_hw"], distil_io["score_loss_student_index_hw"])
    assert torch.equal(im["score_teacher_value"], distil_io["score_loss_teacher_value_at_pred"])


def test_simulated_heatmap_peak_at_integer_location() -> None:
    h, w = 64, 48
    coords = torch.tensor([[[10 / w, 20 / h], [0.0, 0.0]]])  # pixels (10, 20) and (0, 0)
    hm = simulated_heatmap(coords, torch.full((1, 2, 2), 2.0), (h, w))
    assert hm.shape == (1, 2, h, w)
    assert float(hm[0, 0, 20, 10]) == 1.0 and float(hm[0, 1, 0, 0]) == 1.0
    assert int(hm[0, 0].argmax()) == 20 * w + 10
    _close(hm[0, 0, 20, 12], math.exp(-0.5 * 4 / 4))  # 2 px off along x with sigma 2


def test_score_loss_rounding_and_index_modes() -> None:
    hm = torch.arange(4 * 6, dtype=torch.float32).view(1, 1, 4, 6)
    coords = torch.tensor([[[0.5, 1.0]]])  # official: col round(2.5)=2 (half to even), row 3
    official = ScoreLoss(index_mode="official")
    target, index = official.teacher_score(coords, hm)
    assert index.tolist() == [[[3, 2]]] and float(target) == 3 * 6 + 2
    _, index_r = ScoreLoss(index_mode="reg2hm").teacher_score(coords, hm)
    assert index_r.tolist() == [[[3, 3]]]  # round(0.5*6)=3, round(1.0*4)=4 clamped to 3
    outside, _ = official.teacher_score(torch.tensor([[[1.2, 0.5]]]), hm)
    assert float(outside) == 0.0  # prediction outside [0, 1] -> target zeroed
    loss = official(coords, torch.tensor([[[0.0]]]), hm, torch.ones(1, 1, 2))
    _close(loss, 0.01 * 20.0)


def test_coord_smooth_l1_hand_computed() -> None:
    p, t = torch.tensor([[[0.5, 3.0]]]), torch.zeros(1, 1, 2)
    # smooth_l1: 0.5 * 0.5^2 = 0.125 and 3 - 0.5 = 2.5 -> mean 1.3125
    _close(coord_smooth_l1_loss(p, t), 1.3125)
    _close(coord_smooth_l1_loss(p, t, torch.tensor([[[1.0, 0.0]]])), 0.0625)


def test_distilpose_teacher_gets_no_gradient(distil_io: dict) -> None:
    args = [a.clone().requires_grad_(True) for a in _distil_args(distil_io["inputs"])[:8]]
    tw = distil_io["inputs"]["target_weight"]
    out = DistilPoseLoss()(*args, tw, target_coords=torch.rand(2, 17, 2))
    out["total"].backward()
    coords, sigma, score, kpt, vis, hm_t, kpt_t, vis_t = args
    for student in (coords, sigma, score, kpt, vis):
        assert student.grad is not None and student.grad.abs().sum() > 0
    for teacher in (hm_t, kpt_t, vis_t):
        assert teacher.grad is None


# ---------------------------------------------------------------- DWPose

def _logits(inp: dict) -> tuple:
    return inp["ls_x"], inp["ls_y"], inp["lt_x"], inp["lt_y"]


def test_kd_loss_matches_official(dw_io: dict) -> None:
    inp, kd = dw_io["inputs"], dw_io["kd"]
    _close(KDLoss(0.1, dw_io["beta"])(*_logits(inp), inp["target_weight"]), kd["kd_loss_w0.1"])
    _close(KDLoss(1.0)(*_logits(inp)), kd["kd_loss_w1"])
    _close(0.1 * simcc_kd_term(inp["ls_x"], inp["lt_x"]), kd["kd_loss_w0.1_x_only_term"])
    _close(0.1 * simcc_kd_term(inp["ls_y"], inp["lt_y"]), kd["kd_loss_w0.1_y_only_term"])
    # target weight ignored, as official
    ones = KDLoss(0.1)(*_logits(inp), torch.ones_like(inp["target_weight"]))
    assert float(ones) == float(KDLoss(0.1)(*_logits(inp), inp["target_weight"]))


def _official_feature_loss(dw_io: dict) -> FeatureLoss:
    loss = FeatureLoss()
    loss.load_state_dict({"align.weight": dw_io["fea"]["align.weight"],
                          "align.bias": dw_io["fea"]["align.bias"]})
    return loss


def test_feature_loss_matches_official(dw_io: dict) -> None:
    loss, inp = _official_feature_loss(dw_io), dw_io["inputs"]
    with torch.no_grad():
        aligned = loss.aligned(inp["fea_s"])
        assert (aligned - dw_io["fea"]["aligned_student"]).abs().max() <= 1e-5
        _close(loss(inp["fea_s"], inp["fea_t"]), dw_io["fea"]["loss"])


def test_stage1_decay_matches_official(dw_io: dict) -> None:
    for epoch, max_epochs, factor in dw_io["stage1_decay"]:
        assert stage1_decay(epoch, max_epochs) == pytest.approx(factor, abs=1e-12)
    assert stage1_decay(0, 420) == 1.0 and stage1_decay(419, 420) > 0


def test_stage1_example_matches_official(dw_io: dict) -> None:
    ex, inp = dw_io["stage1_example"], dw_io["inputs"]
    loss = DWPoseStage1Loss(max_epochs=ex["max_epochs"])
    loss.fea_loss.load_state_dict(_official_feature_loss(dw_io).state_dict())
    with torch.no_grad():
        out = loss(*_logits(inp), inp["fea_s"], inp["fea_t"], epoch=ex["epoch"])
    _close(out["loss_fea"], ex["loss_fea"])
    _close(out["loss_logit"], ex["loss_logit"])
    _close(out["total"], ex["loss_fea"] + ex["loss_logit"])
    assert "loss_kpt" not in out


def test_stage2_is_logit_loss_weight_one(dw_io: dict) -> None:
    inp = dw_io["inputs"]
    out = DWPoseStage2Loss()(*_logits(inp))
    assert set(out) == {"loss_logit", "total"}
    _close(out["total"], dw_io["kd"]["kd_loss_w1"])


def test_kl_discret_loss_hand_computed() -> None:
    bins = torch.linspace(-1, 1, 9)
    label = torch.exp(-bins**2 / 0.1).expand(1, 2, 9).contiguous()  # (B=1, K=2, bins)
    gt = KLDiscretLoss(beta=10.0)
    # softmax(beta * label) on both sides -> zero divergence
    assert float(gt(label, label, label, label, torch.ones(1, 2))) == pytest.approx(0, abs=1e-7)
    pred = torch.zeros(1, 2, 9)  # uniform prediction
    q = F.softmax(10 * label[0, 0], dim=0)
    kl_mean = float((q * (q.log() - math.log(1 / 9))).mean())
    # joint 1 weighted out: (x + y terms of joint 0) / K
    expected = 2 * kl_mean / 2
    _close(gt(pred, pred, label, label, torch.tensor([[1.0, 0.0]])), expected)


def test_dwpose_stage1_with_labels_and_gradients(dw_io: dict) -> None:
    inp = dw_io["inputs"]
    sx, sy = inp["ls_x"].clone().requires_grad_(True), inp["ls_y"].clone().requires_grad_(True)
    tx, ty = inp["lt_x"].clone().requires_grad_(True), inp["lt_y"].clone().requires_grad_(True)
    fs, ft = inp["fea_s"][:, :8], inp["fea_t"][:, :16].clone().requires_grad_(True)
    loss = DWPoseStage1Loss(student_channels=8, teacher_channels=16, max_epochs=10)
    student = CycleOutput(simcc_x=sx, simcc_y=sy, features=fs)
    teacher = CycleOutput(simcc_x=tx, simcc_y=ty, features=ft)
    out = loss.from_outputs([student], [teacher], epoch=5, label_x=F.softmax(inp["lt_x"], -1),
                            label_y=F.softmax(inp["lt_y"], -1), target_weight=inp["target_weight"])
    assert float(out["decay"]) == 0.5
    _close(out["total"], out["loss_kpt"] + out["loss_fea"] + out["loss_logit"])
    out["total"].backward()
    assert sx.grad.abs().sum() > 0 and sy.grad.abs().sum() > 0
    assert tx.grad is None and ty.grad is None and ft.grad is None
