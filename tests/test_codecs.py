"""Codecs: round trips, official SimCC parity (DWPose fixture), flip helpers."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from sdpose_core.data.coco_meta import FLIP_INDEX, FLIP_PAIRS
from sdpose_core.data.codecs import (
    MSRAHeatmap,
    RegressionLabel,
    SimCCLabel,
    flip_average,
    flip_coords,
    flip_heatmaps,
    flip_image,
    flip_keypoints,
    flip_simcc,
    simcc_maximum,
)

H_IN, W_IN = 256, 192


def random_keypoints(n: int, margin: float, seed: int = 0) -> np.ndarray:
    """(n, 17, 2) sub-pixel keypoints at least ``margin`` input px inside the 256x192 crop."""
    rng = np.random.default_rng(seed)
    return rng.uniform([margin, margin], [W_IN - 1 - margin, H_IN - 1 - margin], size=(n, 17, 2))


@pytest.fixture(scope="module")
def dwpose(official_dir):
    return torch.load(official_dir / "dwpose" / "io.pt", map_location="cpu", weights_only=True)


# --- heatmaps -----------------------------------------------------------------------------------

def heatmap_error(codec: MSRAHeatmap, kpts: np.ndarray, dark: bool) -> float:
    """Max round-trip error in heatmap pixels."""
    maps, weights = codec.encode(kpts).values()  # heatmaps, target_weight
    assert maps.shape == (len(kpts), 17, 64, 48) and maps.dtype == np.float32
    assert (weights == 1).all()
    decoded, scores = codec.decode(torch.from_numpy(maps), dark=dark)
    assert decoded.shape == kpts.shape and scores.shape == kpts.shape[:2]
    return float(np.abs(decoded - kpts).max() / 4)


def test_heatmap_dark_round_trip():
    # 4 heatmap px from the border: closer, the map edge truncates the Gaussian and biases DARK
    # (measured max error 0.15 px at 3 px, 0.49 at 2 px where DARK is skipped: argmax only).
    err = heatmap_error(MSRAHeatmap(unbiased=True), random_keypoints(64, margin=16), dark=True)
    print(f"DARK round trip max error: {err:.4f} heatmap px")
    assert err < 0.25


def test_heatmap_msra_round_trip():
    kpts = random_keypoints(64, margin=12)
    err_biased = heatmap_error(MSRAHeatmap(unbiased=False), kpts, dark=False)
    err_unbiased = heatmap_error(MSRAHeatmap(unbiased=True), kpts, dark=False)
    print(f"MSRA quarter-offset max error: {err_biased:.4f} (rounded centre), {err_unbiased:.4f} (exact centre)")
    assert err_biased <= 0.5 + 1e-6  # integer centre: only rounding error, symmetric neighbours
    assert err_unbiased <= 0.25 + 1e-6  # quarter step toward the true sub-pixel side


def test_heatmap_encoding_conventions():
    codec = MSRAHeatmap()
    kpts = np.array([[[40.0, 80.0], [-100.0, 10.0], [10.0, 10.0]]])
    maps, weights = codec.encode(kpts, np.array([[1.0, 1.0, 0.0]])).values()
    assert maps[0, 0, 20, 10] == 1.0  # heatmap pixel = input pixel / stride, (x, y) -> [y, x]
    assert maps[0, 0].sum() > 1  # a Gaussian, not a delta
    np.testing.assert_array_equal(weights, [[1.0, 0.0, 0.0]])  # off-map -> 0; invisible keeps its 0
    assert maps[0, 1:].max() == 0
    unbiased = MSRAHeatmap(unbiased=True).encode(np.array([[[42.0, 80.0]]]))["heatmaps"]
    assert unbiased[0, 0, 20, 10] == unbiased[0, 0, 20, 11] < 1  # centred at x = 10.5, not rounded


def test_heatmap_empty_map_decodes_to_minus_stride():
    kpts, scores = MSRAHeatmap().decode(np.zeros((1, 17, 64, 48), np.float32))
    assert (kpts == -4).all() and (scores == 0).all()


# --- SimCC --------------------------------------------------------------------------------------

def test_simcc_round_trip():
    codec = SimCCLabel()
    kpts = random_keypoints(32, margin=0, seed=1)
    x_labels, y_labels, weights = codec.encode(kpts).values()  # simcc_x, simcc_y, target_weight
    assert x_labels.shape == (32, 17, 384) and y_labels.shape == (32, 17, 512)
    decoded, scores = codec.decode(torch.from_numpy(x_labels), torch.from_numpy(y_labels))
    err_bins = np.abs(decoded - kpts).max() * codec.split_ratio
    print(f"SimCC round trip max error: {err_bins:.4f} bins")
    assert err_bins <= 0.5 + 1e-6 and (scores == 1).all() and (weights == 1).all()


@pytest.mark.parametrize("index", [0, 1, 2])
def test_simcc_encode_matches_official(dwpose, index):
    ref = {k: v.numpy() for k, v in dwpose["simcc_encode"][index].items()}
    x_labels, y_labels, weights = SimCCLabel().encode(ref["keypoints"], ref["keypoints_visible"]).values()
    np.testing.assert_allclose(x_labels, ref["keypoint_x_labels"], rtol=0, atol=1e-6)
    np.testing.assert_allclose(y_labels, ref["keypoint_y_labels"], rtol=0, atol=1e-6)
    np.testing.assert_array_equal(weights, ref["keypoint_weights"])
    kpts, scores = SimCCLabel().decode(x_labels, y_labels)
    np.testing.assert_array_equal(kpts, ref["decoded_keypoints_of_labels"])
    np.testing.assert_allclose(scores, ref["decoded_scores_of_labels"], rtol=0, atol=1e-6)


def test_simcc_decode_matches_official(dwpose):
    ref = dwpose["simcc_decode"]
    locs, vals = simcc_maximum(ref["logits_x"], ref["logits_y"])
    np.testing.assert_array_equal(locs, ref["get_simcc_maximum_locs"].numpy())
    np.testing.assert_array_equal(vals, ref["get_simcc_maximum_vals"].numpy())
    kpts, scores = SimCCLabel().decode(ref["logits_x"], ref["logits_y"])
    np.testing.assert_array_equal(kpts, ref["codec_decode_keypoints"].numpy())
    np.testing.assert_array_equal(scores, ref["codec_decode_scores"].numpy())
    assert locs[0, 7, 0] == 100  # exact tie at bins 100 and 250: the first index wins
    assert (kpts[1, 3] == -0.5).all()  # all-negative logits: undecidable -> -1 bin -> -0.5 px


# --- regression ---------------------------------------------------------------------------------

def test_regression_round_trip():
    codec = RegressionLabel()
    kpts = random_keypoints(8, margin=0, seed=2)
    kpts[0, 0] = [-3.0, 10.0]  # outside the crop -> weight 0
    vis = np.ones((8, 17))
    vis[1, 5] = 0
    targets, weights = codec.encode(kpts, vis).values()  # coords, coord_weight
    assert weights.shape == (8, 17, 2) and (weights[0, 0] == 0).all() and (weights[1, 5] == 0).all()
    assert weights.sum() == 2 * (8 * 17 - 2)
    assert (targets[1:] >= 0).all() and (targets[1:] <= 1).all()
    np.testing.assert_allclose(targets[..., 0], kpts[..., 0] / W_IN, rtol=1e-6)  # x along the width
    decoded, scores = codec.decode(torch.from_numpy(targets))
    np.testing.assert_allclose(decoded, kpts, atol=1e-4)
    assert (scores == 1).all()


# --- flip ---------------------------------------------------------------------------------------

def test_flip_index_swaps_pairs():
    for a, b in FLIP_PAIRS:
        assert FLIP_INDEX[a] == b and FLIP_INDEX[b] == a
    assert FLIP_INDEX[0] == 0


@pytest.mark.parametrize("backend", [np.asarray, torch.as_tensor])
def test_flip_helpers_are_involutions(backend):
    rng = np.random.default_rng(3)
    maps = backend(rng.random((2, 17, 64, 48)).astype(np.float32))
    sx, sy = backend(rng.random((2, 17, 384))), backend(rng.random((2, 17, 512)))
    coords = backend(rng.random((2, 17, 2)))
    kpts = backend(random_keypoints(2, margin=0))
    back = flip_heatmaps(flip_heatmaps(maps, shift=False), shift=False)
    assert type(back) is type(maps) and (back == maps).all()
    fx, fy = flip_simcc(*flip_simcc(sx, sy))
    assert (fx == sx).all() and (fy == sy).all()
    for width in (None, 192):
        assert np.allclose(flip_coords(flip_coords(coords, input_width=width), input_width=width), coords)
    assert np.allclose(flip_keypoints(flip_keypoints(kpts, W_IN), W_IN), kpts)
    assert (flip_image(flip_image(maps)) == maps).all()


def test_flip_semantics():
    kpts = random_keypoints(1, margin=0, seed=4)
    vis = np.arange(17, dtype=np.float64)[None]
    flipped, fvis = flip_keypoints(kpts, W_IN, vis)
    for a, b in FLIP_PAIRS:  # left wrist of the mirror = mirrored right wrist
        np.testing.assert_allclose(flipped[0, a], [W_IN - 1 - kpts[0, b, 0], kpts[0, b, 1]])
        assert fvis[0, a] == b
    # Coordinates: the normalised flip with shift is exact for pixel mirroring x -> W - 1 - x.
    coords, fc = RegressionLabel().encode(kpts)["coords"], RegressionLabel().encode(flipped)["coords"]
    np.testing.assert_allclose(flip_coords(fc, input_width=W_IN), coords, atol=1e-6)
    # Heatmaps: mirrored-back maps peak at the original joint (shift=True: +1 px, mmpose).
    maps = np.zeros((1, 17, 64, 48), np.float32)
    maps[0, 5, 20, 10] = 1  # left shoulder at x=10 in the mirrored image -> right shoulder x=37
    back = flip_heatmaps(maps, shift=False)
    assert back[0, 6, 20, 37] == 1 and back.sum() == 1
    assert flip_heatmaps(maps)[0, 6, 20, 38] == 1
    sx = np.zeros((1, 17, 384))
    sx[0, 9, 0] = 1
    assert flip_simcc(sx, np.zeros((1, 17, 512)))[0][0, 10, 383] == 1
    assert np.allclose(flip_average(torch.ones(2), torch.zeros(2)), 0.5)
    with pytest.raises(ValueError):
        flip_average(np.ones(2), np.ones(3))


def test_decoders_reject_bad_shapes():
    with pytest.raises(ValueError):
        MSRAHeatmap().decode(np.zeros((17, 64, 48)))
    with pytest.raises(ValueError):
        SimCCLabel().decode(np.zeros((1, 17, 384)), np.zeros((1, 16, 512)))
    with pytest.raises(ValueError):
        SimCCLabel().encode(np.zeros((1, 17, 3)))
    with pytest.raises(ValueError):
        RegressionLabel().encode(np.zeros((1, 17, 2)), np.ones((1, 16)))


def test_dark_never_throws_a_keypoint_off_a_flat_heatmap():
    """Untrained (near-flat, noisy) heatmaps: DARK stays within 1 px of the argmax."""
    from sdpose_core.data.codecs.heatmap import heatmap_maximum, refine_dark

    rng = np.random.default_rng(0)
    maps = 1e-3 + 1e-6 * rng.standard_normal((4, 17, 32, 24))
    locs, _ = heatmap_maximum(maps)
    refined = refine_dark(locs.copy(), maps)
    assert np.all(np.abs(refined - locs) <= 1.0 + 1e-9)


# --- one codec per head: named targets, decoding of a model's output record ---------------------

def test_codec_for_every_head_encodes_named_targets_that_decode_back():
    from sdpose_core.data.codecs import codec_for
    from sdpose_core.models.config import HEAD_TYPES, ModelConfig
    from sdpose_core.models.outputs import CycleOutput

    expected = {"heatmap": {"heatmaps", "target_weight"}, "regression": {"coords", "coord_weight"},
                "simcc": {"simcc_x", "simcc_y", "target_weight"}}
    kpts = random_keypoints(2, margin=20)
    for head in HEAD_TYPES:
        codec = codec_for(ModelConfig(head=head))
        targets = codec.encode(kpts)
        assert set(targets) == expected[head]
        # the prediction fields are named as the CycleOutput fields a head fills
        out = CycleOutput(**{k: torch.from_numpy(v) for k, v in targets.items() if "weight" not in k})
        decoded, scores = codec.decode_output(out)
        assert decoded.shape == kpts.shape and scores.shape == kpts.shape[:2]
        assert np.abs(decoded - kpts).max() < 1.0, head
