"""The distillation family (NKD, tf-NKD, ViTKD, MGD): each loss against a value hand-computed from its
formula with numpy loops, and each recipe trains two tiny epochs with the loss going down."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from sdpose_core.data.synthpose import generate_dataset
from sdpose_core.distill.mgd import MGDLoss, random_spatial_mask
from sdpose_core.distill.nkd import NKDLoss, TfNKDLoss
from sdpose_core.distill.vitkd import ViTKDLoss, random_token_mask, record_layer_tokens
from sdpose_core.io.checkpoint import save_model
from sdpose_core.models.zoo import build_model, get_config
from sdpose_core.train.recipes import build_objective, get_recipe
from sdpose_core.train.trainer import TrainOptions, train

TINY = dict(epochs=2, batch_size=8, max_steps_per_epoch=4, progress=False)


# ---------------------------------------------------------------- numpy references

def np_softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max())
    return e / e.sum()


def np_conv3x3(x: np.ndarray, weight: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """Cross-correlation with zero padding 1, explicit loops: x (C, H, W), weight (O, C, 3, 3)."""
    c, h, w = x.shape
    padded = np.zeros((c, h + 2, w + 2))
    padded[:, 1:-1, 1:-1] = x
    out = np.zeros((weight.shape[0], h, w))
    for o in range(weight.shape[0]):
        for i in range(h):
            for j in range(w):
                out[o, i, j] = bias[o] + np.sum(weight[o] * padded[:, i:i + 3, j:j + 3])
    return out


def np_generation(x: np.ndarray, block: torch.nn.Sequential) -> np.ndarray:
    """Conv3x3 -> ReLU -> Conv3x3 of one sample (C, H, W) with the block's weights."""
    p = [t.detach().double().numpy() for t in (block[0].weight, block[0].bias, block[2].weight, block[2].bias)]
    return np_conv3x3(np.maximum(np_conv3x3(x, p[0], p[1]), 0.0), p[2], p[3])


def simcc_case(seed: int = 0) -> dict[str, torch.Tensor]:
    """B=2, K=3, 7 x-bins and 5 y-bins, Gaussian-like labels; keypoint (1, 2) unlabelled."""
    g = torch.Generator().manual_seed(seed)
    b, k = 2, 3
    case = {f"{who}_{ax}": torch.randn(b, k, n, generator=g, dtype=torch.float64)
            for who in ("s", "t") for ax, n in (("x", 7), ("y", 5))}
    for ax, n in (("x", 7), ("y", 5)):
        peaks = torch.randint(0, n, (b, k), generator=g)
        bins = torch.arange(n, dtype=torch.float64)
        case[f"label_{ax}"] = torch.exp(-(bins - peaks[..., None].double()) ** 2 / 2.0)
        case[f"label_{ax}"][1, 2] = 0.0
    case["weight"] = torch.ones(b, k, dtype=torch.float64)
    case["weight"][1, 2] = 0.0
    return case


# ---------------------------------------------------------------- NKD / tf-NKD

def nkd_reference(case: dict, temp: float, gamma: float, beta: float) -> tuple[float, float]:
    target_sum, non_sum = 0.0, 0.0
    for ax in ("x", "y"):
        s, t = case[f"s_{ax}"].numpy() * beta, case[f"t_{ax}"].numpy() * beta
        label, w = case[f"label_{ax}"].numpy(), case["weight"].numpy()
        rows = s.shape[0] * s.shape[1]
        for b in range(s.shape[0]):
            for k in range(s.shape[1]):
                tgt = int(np.argmax(label[b, k]))
                target_sum += -w[b, k] * np_softmax(t[b, k])[tgt] * np.log(np_softmax(s[b, k])[tgt]) / rows
                keep = [j for j in range(s.shape[2]) if j != tgt]
                s_hat, t_hat = np_softmax(s[b, k, keep] / temp), np_softmax(t[b, k, keep] / temp)
                non_sum += -gamma * temp ** 2 * w[b, k] * np.sum(t_hat * np.log(s_hat)) / rows
    return target_sum, non_sum


@pytest.mark.parametrize("temp,gamma,beta", [(1.0, 1.5, 10.0), (2.0, 1.0, 0.5)])
def test_nkd_matches_hand_computed(temp, gamma, beta):
    c = simcc_case()
    terms = NKDLoss(temp, gamma, beta)(c["s_x"], c["s_y"], c["t_x"], c["t_y"], c["label_x"], c["label_y"], c["weight"])
    target, non_target = nkd_reference(c, temp, gamma, beta)
    assert terms["loss_nkd_target"].item() == pytest.approx(target, rel=1e-10)
    assert terms["loss_nkd_non_target"].item() == pytest.approx(non_target, rel=1e-10)
    assert terms["loss_nkd"].item() == pytest.approx(target + non_target, rel=1e-10)


def test_nkd_defaults_are_official_and_teacher_gets_no_gradient():
    loss = NKDLoss()
    assert (loss.temp, loss.gamma, loss.beta) == (1.0, 1.5, 10.0)
    c = simcc_case(1)
    teacher_x = c["t_x"].clone().requires_grad_(True)
    student_x = c["s_x"].clone().requires_grad_(True)
    loss(student_x, c["s_y"], teacher_x, c["t_y"], c["label_x"], c["label_y"], c["weight"])["loss_nkd"].backward()
    assert teacher_x.grad is None and torch.isfinite(student_x.grad).all()
    assert torch.all(student_x.grad[1, 2] == 0)  # the unlabelled keypoint is not distilled


def tf_nkd_reference(case: dict, beta: float) -> tuple[float, np.ndarray]:
    """tf-NKD value and its gradient w.r.t. the x logits (the soft target w_t is a constant)."""
    total, grad_x = 0.0, np.zeros_like(case["s_x"].numpy())
    w = case["weight"].numpy()
    for ax in ("x", "y"):
        s, label = case[f"s_{ax}"].numpy() * beta, case[f"label_{ax}"].numpy()
        rows = s.shape[0] * s.shape[1]
        probs = {(b, k): np_softmax(s[b, k]) for b in range(s.shape[0]) for k in range(s.shape[1])}
        tgt = {bk: int(np.argmax(label[bk])) for bk in probs}
        s_t = {bk: probs[bk][tgt[bk]] for bk in probs}
        mean = np.mean([s_t[bk] for bk in probs if w[bk] > 0])
        for bk in probs:
            w_t = s_t[bk] + 1.0 - mean if w[bk] > 0 else 0.0
            total += -w_t * np.log(s_t[bk]) / rows
            if ax == "x":  # d(-w log S_t)/dz = w (S - onehot), z = beta * logits
                onehot = np.eye(s.shape[2])[tgt[bk]]
                grad_x[bk] = w_t * (probs[bk] - onehot) * beta / rows
    return total, grad_x


def test_tf_nkd_matches_hand_computed_value_and_gradient():
    c, beta = simcc_case(2), 10.0
    student_x = c["s_x"].clone().requires_grad_(True)
    value = TfNKDLoss(beta)(student_x, c["s_y"], c["label_x"], c["label_y"], c["weight"])
    expected, expected_grad = tf_nkd_reference(c, beta)
    assert value.item() == pytest.approx(expected, rel=1e-10)
    value.backward()
    np.testing.assert_allclose(student_x.grad.numpy(), expected_grad, rtol=1e-8, atol=1e-12)


# ---------------------------------------------------------------- MGD

def test_mgd_matches_hand_computed():
    torch.manual_seed(0)
    loss = MGDLoss(student_channels=3, teacher_channels=2, alpha_mgd=0.5).double()
    fea_s, fea_t = torch.randn(2, 3, 3, 4, dtype=torch.float64), torch.randn(2, 2, 3, 4, dtype=torch.float64)
    mask = torch.tensor(np.random.default_rng(0).integers(0, 2, (2, 1, 3, 4)), dtype=torch.float64)
    a_w = loss.align.weight.detach().double().numpy()[:, :, 0, 0]
    a_b = loss.align.bias.detach().double().numpy()
    expected = 0.0
    for n in range(2):
        aligned = np.einsum("oc,chw->ohw", a_w, fea_s[n].numpy()) + a_b[:, None, None]
        regenerated = np_generation(aligned * mask[n].numpy(), loss.generation)
        expected += np.sum((regenerated - fea_t[n].numpy()) ** 2)
    expected = expected / 2 * 0.5
    assert loss(fea_s, fea_t, mask).item() == pytest.approx(expected, rel=1e-10)


def test_mgd_defaults_and_random_mask():
    loss = MGDLoss(4, 4)
    assert (loss.alpha_mgd, loss.lambda_mgd, loss.align) == (2e-5, 0.65, None)
    mask = random_spatial_mask(64, 16, 16, 0.65, generator=torch.Generator().manual_seed(0))
    assert mask.shape == (64, 1, 16, 16) and set(mask.unique().tolist()) == {0.0, 1.0}
    assert 1 - mask.mean().item() == pytest.approx(0.65, abs=0.01)  # share masked = lambda


# ---------------------------------------------------------------- ViTKD

def test_vitkd_matches_hand_computed():
    torch.manual_seed(0)
    grid, ds, dt, b = (2, 3), 3, 4, 2
    n = grid[0] * grid[1]
    loss = ViTKDLoss(ds, dt, grid, alpha_vitkd=0.3, beta_vitkd=0.2, lambda_vitkd=0.5).double()
    with torch.no_grad():
        loss.mask_token.normal_()
    shallow_s = [torch.randn(b, n, ds, dtype=torch.float64) for _ in range(2)]
    shallow_t = [torch.randn(b, n, dt, dtype=torch.float64) for _ in range(2)]
    deep_s, deep_t = torch.randn(b, n, ds, dtype=torch.float64), torch.randn(b, n, dt, dtype=torch.float64)
    masked = torch.tensor([[1, 0, 0, 1, 1, 0], [0, 1, 1, 0, 0, 1]], dtype=torch.bool)
    terms = loss(shallow_s, shallow_t, deep_s, deep_t, masked)

    def lin(layer, x):
        return x @ layer.weight.detach().double().numpy().T + layer.bias.detach().double().numpy()

    mimic = sum(np.sum((lin(loss.align_shallow[i], shallow_s[i].numpy()) - shallow_t[i].numpy()) ** 2)
                for i in range(2)) / b * 0.3
    gen = 0.0
    token = loss.mask_token.detach().double().numpy()[0, 0]
    for s in range(b):
        x = lin(loss.align_deep, deep_s[s].numpy())  # (N, Dt)
        grid_map = np.zeros((dt, *grid))
        for t in range(n):  # token t sits at row t // gw, column t % gw
            grid_map[:, t // grid[1], t % grid[1]] = token if masked[s, t] else x[t]
        out = np_generation(grid_map, loss.generation)
        for t in range(n):
            if masked[s, t]:
                gen += np.sum((out[:, t // grid[1], t % grid[1]] - deep_t[s, t].numpy()) ** 2)
    gen = gen / b * 0.2 / 0.5
    assert terms["loss_vitkd_mimic"].item() == pytest.approx(mimic, rel=1e-10)
    assert terms["loss_vitkd_gen"].item() == pytest.approx(gen, rel=1e-10)
    assert terms["loss_vitkd"].item() == pytest.approx(mimic + gen, rel=1e-10)


def test_vitkd_defaults_and_token_mask():
    loss = ViTKDLoss(8, 8, (2, 2))
    assert (loss.alpha_vitkd, loss.beta_vitkd, loss.lambda_vitkd) == (3e-5, 3e-6, 0.5)
    assert loss.align_shallow is None and loss.align_deep is None
    masked = random_token_mask(5, 48, 0.5, generator=torch.Generator().manual_seed(0))
    assert masked.sum(dim=1).tolist() == [48 - int(48 * 0.5)] * 5
    assert not torch.equal(masked[0], masked[1])  # per-sample masks


def test_layer_recorder_sees_the_model_tokens_and_cleans_up():
    model = build_model("synth-student").eval()
    last = model.config.depth - 1
    images = torch.randn(2, 3, *model.config.input_size)
    with torch.no_grad(), record_layer_tokens(model, [0, last]) as recorded:
        outputs = model(images, cycles=2)
    first = outputs[0]
    assert torch.equal(recorded[last], torch.cat([first.keypoint_tokens, first.visual_tokens], dim=1))
    assert recorded[0].shape == recorded[last].shape and not torch.equal(recorded[0], recorded[last])
    assert all(not block._forward_hooks for block in model.encoder.transformer.layers)


# ---------------------------------------------------------------- recipes

@pytest.fixture(scope="module")
def synth(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("synth_family")
    return {"train": generate_dataset(root / "train", num=48, seed=1, progress=False),
            "val": generate_dataset(root / "val", num=16, seed=2, progress=False)}


@pytest.fixture(scope="module")
def simcc_teacher(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("teacher") / "simcc-teacher.pt"
    return save_model(build_model("synth-simcc-teacher"), path)


@pytest.mark.parametrize("recipe,kd_term", [("nkd", "loss_nkd"), ("tf-nkd", "loss_tf_nkd"),
                                            ("vitkd", "loss_vitkd"), ("mgd", "loss_mgd")])
def test_family_recipe_trains_and_loss_goes_down(recipe, kd_term, synth, simcc_teacher, tmp_path):
    teacher = None if recipe == "tf-nkd" else simcc_teacher
    history = train(TrainOptions(recipe=recipe, data=synth["train"], val=synth["val"], out=tmp_path,
                                 teacher=teacher, lr=2e-3, **TINY))
    assert [r["epoch"] for r in history] == [0, 1]
    assert {"loss_kpt", kd_term, "total"} <= set(history[0])
    assert history[0][kd_term] != 0.0
    assert history[1]["total"] < history[0]["total"]


@pytest.mark.parametrize("recipe", ["vitkd", "mgd"])
def test_feature_recipes_align_a_wider_teacher_and_train_their_own_blocks(recipe):
    student = build_model("synth-student")  # a heatmap student: the GT term follows the head
    cfg = student.config
    teacher = build_model(get_config("synth-teacher", dim=2 * cfg.dim, depth=2))
    objective = build_objective(get_recipe(recipe), student, teacher)
    batch = {"image": torch.randn(2, 3, *cfg.input_size),
             "heatmaps": torch.rand(2, cfg.num_keypoints, *cfg.out_heatmap_size),
             "target_weight": torch.ones(2, cfg.num_keypoints)}
    terms = objective(student, batch, 0, 1)
    assert "heatmap_loss" in terms
    terms["total"].backward()
    own = dict(objective.loss.named_parameters())
    assert any("align" in name for name in own)
    assert all(p.grad is not None for name, p in own.items()), "align/generation/mask token get gradients"
    assert all(p.grad is None for p in teacher.parameters())


def test_family_recipes_refuse_unusable_models():
    simcc, heatmap = build_model("synth-simcc"), build_model("synth-teacher")
    with pytest.raises(ValueError, match="simcc head"):
        build_objective(get_recipe("nkd"), simcc, heatmap)
    with pytest.raises(ValueError, match="needs a student with a simcc head"):
        build_objective(get_recipe("tf-nkd"), build_model("synth-student"), None)
    with pytest.raises(ValueError, match="token teacher"):
        build_objective(get_recipe("mgd"), simcc, build_model("synth-cnn-teacher"))
    with pytest.raises(ValueError, match="needs --teacher"):
        build_objective(get_recipe("vitkd"), simcc, None)
