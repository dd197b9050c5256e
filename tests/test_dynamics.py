"""Token dynamics over training (sdpose_core.interpret.dynamics) and its figures (sdpose_core.viz.dynamics):
values of the measures on constructed inputs, then the bundled snapshot histories."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from sdpose_core.data.coco_meta import FLIP_PAIRS, KEYPOINT_NAMES
from sdpose_core.interpret import dynamics as D
from sdpose_core.models.zoo import CHECKPOINT_DIR
from sdpose_core.viz import dynamics as V

K = len(KEYPOINT_NAMES)
SDPOSE_RUN = CHECKPOINT_DIR / "sdpose"
DISTILPOSE_RUN = CHECKPOINT_DIR / "distilpose"


def _attention(patch_rows: torch.Tensor, n: int) -> torch.Tensor:
    """(1, 1, T, T) attention whose keypoint rows put ``patch_rows`` (K, N) on the patches and 0.3 on keypoint 0."""
    t = K + n
    att = torch.zeros(1, 1, t, t)
    att[0, 0, :K, 0] = 0.3  # weight on a keypoint column: must be ignored
    att[0, 0, :K, K:] = 0.7 * patch_rows / patch_rows.sum(-1, keepdim=True)
    return att


def test_entropy_of_a_uniform_look_is_log_n_and_of_a_one_hot_look_is_zero():
    n = 48
    uniform = D.attention_entropy(_attention(torch.ones(K, n), n))  # (1, 1, K)
    assert uniform.shape == (1, 1, K)
    assert torch.allclose(uniform, torch.full_like(uniform, math.log(n)), atol=1e-12)
    one_hot = D.attention_entropy(_attention(torch.eye(n)[:K], n))
    assert torch.allclose(one_hot, torch.zeros(1, 1, K, dtype=torch.float64))
    half = torch.zeros(K, n)
    half[:, :2] = 1.0  # two patches, equal weight
    two = D.attention_entropy(_attention(half, n))
    assert torch.allclose(two, torch.full((1, 1, K), math.log(2), dtype=torch.float64))


def test_similarity_of_identical_tokens_is_one_and_of_orthogonal_tokens_zero():
    same = torch.randn(1, 1, 8).repeat(2, K, 1)  # (B, K, D), every token the same
    assert torch.allclose(D.token_similarity(same), torch.ones(K, K, dtype=torch.float64))
    ortho = torch.eye(K)[None] * 3.0  # (1, K, K): orthogonal, not unit length
    assert torch.allclose(D.token_similarity(ortho), torch.eye(K, dtype=torch.float64))


def test_token_distance_values():
    s = torch.zeros(2, K, 4)
    s[..., 0] = 1.0
    mse, cos = D.token_distance(s, s.clone())
    assert torch.all(mse == 0) and torch.allclose(cos, torch.zeros(K, dtype=torch.float64))
    t = torch.zeros(2, K, 4)
    t[..., 1] = 1.0  # orthogonal, same length: MSE = (1 + 1) / 4, 1 - cos = 1
    mse, cos = D.token_distance(s, t)
    assert torch.allclose(mse, torch.full((K,), 0.5, dtype=torch.float64))
    assert torch.allclose(cos, torch.ones(K, dtype=torch.float64))
    with pytest.raises(ValueError, match="differ"):
        D.token_distance(s, t[:, :, :3])


def test_left_right_similarity_and_most_similar_pairs():
    sim = np.full((K, K), 0.1)
    for a, b in FLIP_PAIRS:
        sim[a, b] = sim[b, a] = 0.9
    np.fill_diagonal(sim, 1.0)
    pairs, others = D.left_right_similarity(np.stack([sim, sim]))
    assert np.allclose(pairs, 0.9) and np.allclose(others, 0.1) and pairs.shape == (2,)
    sim[5, 6] = sim[6, 5] = 0.95
    top = D.most_similar_pairs(sim, top=2)
    assert top[0] == (5, 6, 0.95) and top[1][2] == 0.9


def test_ap_jump_is_the_end_of_the_largest_rise():
    epochs = np.array([1, 2, 3, 4, 5])
    assert D.ap_jump(epochs, np.array([0.18, 0.2, 0.22, 0.58, 0.6])) == 4
    with pytest.raises(ValueError):
        D.ap_jump(epochs[:1], np.array([0.1]))


@pytest.fixture(scope="module")
def sdpose_dynamics() -> D.TokenDynamics:
    torch.manual_seed(0)
    return D.token_dynamics(SDPOSE_RUN, count=4)


def test_bundled_sdpose_history(sdpose_dynamics):
    dyn = sdpose_dynamics
    s = len(sorted(SDPOSE_RUN.glob("history/epoch_*.pt")))
    cycles, layers = dyn.entropy.shape[1:3]
    assert dyn.entropy.shape == (s, cycles, layers, K) and cycles >= 2 and dyn.num_probes == 4
    assert np.all(dyn.entropy >= 0) and np.all(dyn.entropy <= dyn.max_entropy + 1e-9)
    assert dyn.max_entropy == pytest.approx(math.log(dyn.maps.shape[-2] * dyn.maps.shape[-1]))
    assert dyn.similarity.shape == (s, cycles, layers, K, K)
    assert np.allclose(np.diagonal(dyn.similarity, axis1=-2, axis2=-1), 1.0)
    assert dyn.cycle_gap.shape == (s, cycles - 1, K) and np.all(dyn.cycle_gap >= 0)
    assert dyn.teacher_mse is None and dyn.teacher_cosine is None
    assert np.all(dyn.maps >= 0) and np.all(dyn.maps.sum(axis=(-2, -1)) <= 1 + 1e-5)  # softmax rows, patches only
    assert list(dyn.epochs) == sorted(dyn.epochs) and dyn.crop.shape == (128, 96, 3) and dyn.crop.dtype == np.uint8
    # the AP curve is metrics.jsonl's, and the jump splits the snapshots into two non-empty sides
    assert len(dyn.ap) >= s and np.isfinite(dyn.snapshot_ap()).all()
    before, after = dyn.sides()
    assert dyn.epochs[before] < dyn.jump_epoch() <= dyn.epochs[after] and after == before + 1


def test_distance_to_a_teacher_is_zero_when_the_teacher_is_the_snapshot():
    last = D.load_history(DISTILPOSE_RUN)[-1]
    dyn = D.token_dynamics(DISTILPOSE_RUN, teacher=last.model, teacher_name="itself", count=3)
    assert dyn.teacher_mse.shape == (len(dyn.labels), 1, K) and dyn.teacher == "itself"
    # zero up to float32 rounding (2.6e-12 measured on the bundled run); the other snapshots are >= 1e-2
    assert np.allclose(dyn.teacher_mse[-1], 0.0, atol=1e-9) and np.allclose(dyn.teacher_cosine[-1], 0.0, atol=1e-6)
    assert np.all(dyn.teacher_mse[:-1].mean(-1) > 1e-6)
    assert D.teacher_for(last.recipe) == "synth-teacher" and D.teacher_for("sdpose") is None


def test_not_a_run_folder(tmp_path):
    with pytest.raises(ValueError, match="no history"):
        D.load_history(tmp_path)


def test_figures_draw_the_data(sdpose_dynamics):
    dyn = sdpose_dynamics
    fig = V.dynamics_figure(dyn, cycle=2)
    ap = next(t for t in fig.data if t.name == "AP")
    assert list(ap.y) == list(dyn.ap)
    layer0 = next(t for t in fig.data if t.name == "layer 0")
    assert np.allclose(layer0.y, dyn.entropy[:, 1, 0].mean(-1))
    vlines = [s.x0 for s in fig.layout.shapes if s.x0 == s.x1]  # add_vline: one per row, at the jump
    assert vlines and set(vlines) == {dyn.jump_epoch()}
    sim = V.similarity_matrices_figure(dyn, cycle=1, layer=0, snapshots=[0, 1])
    assert len(sim.data) == 2 and np.allclose(sim.data[1].z, dyn.similarity[1, 0, 0]) and sim.data[0].zmax == 1
    ent = V.entropy_by_keypoint_figure(dyn, cycle=1, layer=-1)
    assert np.allclose(ent.data[0].z, dyn.entropy[:, 0, -1].T)
    att = V.snapshot_attention_figure(dyn, keypoint=9, snapshots=[1, 0], titles=["A", "B"])
    heat = [t for t in att.data if t.type == "heatmap"]
    assert np.allclose(heat[0].z, dyn.maps[1, 0, -1, 9]) and [a.text for a in att.layout.annotations][:2] == ["A", "B"]
    with pytest.raises(ValueError, match="cycle"):
        V.dynamics_figure(dyn, cycle=9)
    with pytest.raises(ValueError, match="no teacher"):
        V.teacher_distance_figure(dyn)
