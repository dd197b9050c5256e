"""Evaluation: COCO OKS AP via pycocotools, OKS helper, PCK."""
from __future__ import annotations

import json

import numpy as np
import pytest

from sdpose_core.evaluate import (
    METRIC_NAMES,
    coco_keypoint_eval,
    coco_keypoint_eval_arrays,
    oks,
    pck,
    results_from_arrays,
)

NOISE_STDS = (0.0, 1.0, 2.0, 4.0, 8.0)


@pytest.fixture(scope="module")
def gt_path(real_dir):
    return real_dir / "coco" / "test_coco.json"


@pytest.fixture(scope="module")
def gt_arrays(gt_path):
    """Annotations with labelled keypoints: image_ids (N,), keypoints (N,17,2), visible, area, bbox."""
    anns = [a for a in json.loads(gt_path.read_text())["annotations"] if a["num_keypoints"] > 0]
    kp = np.array([a["keypoints"] for a in anns], dtype=np.float64).reshape(-1, 17, 3)
    return {
        "image_ids": np.array([a["image_id"] for a in anns]),
        "keypoints": kp[..., :2],
        "visible": (kp[..., 2] > 0).astype(np.float64),
        "area": np.array([a["area"] for a in anns]),
        "bbox": np.array([a["bbox"] for a in anns]),
    }


def noisy(keypoints: np.ndarray, std: float, seed: int = 0) -> np.ndarray:
    """The same standard-normal draw scaled by std, so larger std is strictly more noise."""
    return keypoints + std * np.random.default_rng(seed).standard_normal(keypoints.shape)


def evaluate_with_noise(gt, arrays, std: float) -> dict[str, float]:
    n = len(arrays["image_ids"])
    scores = np.linspace(1.0, 0.5, n)  # distinct instance scores: a fixed ranking
    return coco_keypoint_eval_arrays(gt, arrays["image_ids"], noisy(arrays["keypoints"], std),
                                     np.ones((n, 17)), scores)


def synthetic_gt(num_images: int = 3, people: int = 3, seed: int = 0) -> dict:
    """A COCO keypoints GT dict of random people, some keypoints unlabelled, no 'categories' key."""
    rng = np.random.default_rng(seed)
    images, anns = [], []
    for i in range(num_images):
        images.append({"id": i + 1, "width": 640, "height": 480, "file_name": f"{i}.jpg"})
        for _ in range(people):
            w, h = rng.uniform(40, 200, 2)
            x0, y0 = rng.uniform(0, 400), rng.uniform(0, 250)
            labelled = 2 * (rng.random(17) > 0.2)
            kp = np.stack([rng.uniform(x0, x0 + w, 17), rng.uniform(y0, y0 + h, 17), labelled], -1)
            anns.append({"id": len(anns) + 1, "image_id": i + 1, "category_id": 1, "bbox": [x0, y0, w, h],
                         "area": 0.6 * w * h, "keypoints": kp.reshape(-1).tolist()})
    return {"images": images, "annotations": anns}


def arrays_of(gt: dict) -> dict[str, np.ndarray]:
    kp = np.array([a["keypoints"] for a in gt["annotations"]]).reshape(-1, 17, 3)
    return {"image_ids": np.array([a["image_id"] for a in gt["annotations"]]), "keypoints": kp[..., :2]}


def test_perfect_predictions_give_ap_one(gt_path, gt_arrays):
    metrics = evaluate_with_noise(gt_path, gt_arrays, 0.0)
    assert set(metrics) == set(METRIC_NAMES)
    for name in METRIC_NAMES:
        assert metrics[name] == pytest.approx(1.0), name


def test_ap_falls_with_noise(gt_path, gt_arrays):
    aps = [evaluate_with_noise(gt_path, gt_arrays, std)["AP"] for std in NOISE_STDS]
    print("AP vs noise std", dict(zip(NOISE_STDS, np.round(aps, 4))))
    assert aps[0] == pytest.approx(1.0)
    assert all(a >= b for a, b in zip(aps, aps[1:])) and aps[-1] < aps[0] - 0.2


def test_gt_dict_and_results_format():
    gt = synthetic_gt()
    arr = arrays_of(gt)
    n = len(arr["image_ids"])
    results = results_from_arrays(arr["image_ids"], arr["keypoints"], np.ones((n, 17)), np.ones(n))
    assert len(results) == n and len(results[0]["keypoints"]) == 51 and results[0]["category_id"] == 1
    assert coco_keypoint_eval(results, gt)["AP"] == pytest.approx(1.0)
    assert "categories" not in gt  # the input dict is not modified
    aps = [evaluate_with_noise(gt, {**arr}, std)["AP"] for std in NOISE_STDS]
    assert all(a >= b for a, b in zip(aps, aps[1:])) and aps[-1] < aps[0]


def test_empty_predictions_give_zero(gt_path):
    assert coco_keypoint_eval([], gt_path) == dict.fromkeys(METRIC_NAMES, 0.0)


def test_verbose_controls_output(gt_path, gt_arrays, capsys):
    evaluate_with_noise(gt_path, gt_arrays, 1.0)
    assert capsys.readouterr().out == ""
    n = len(gt_arrays["image_ids"])
    coco_keypoint_eval_arrays(gt_path, gt_arrays["image_ids"], gt_arrays["keypoints"], np.ones((n, 17)),
                              np.ones(n), verbose=True)
    assert "Average Precision" in capsys.readouterr().out


def test_malformed_input_raises(gt_path, gt_arrays):
    ids, kp = gt_arrays["image_ids"], gt_arrays["keypoints"]
    n = len(ids)
    with pytest.raises(ValueError, match="keypoints"):
        coco_keypoint_eval_arrays(gt_path, ids, kp[:, :16], np.ones((n, 16)), np.ones(n))
    with pytest.raises(ValueError, match="keypoint_scores"):
        coco_keypoint_eval_arrays(gt_path, ids, kp, np.ones((n, 16)), np.ones(n))
    with pytest.raises(ValueError, match="scores"):
        coco_keypoint_eval_arrays(gt_path, ids, kp, np.ones((n, 17)), np.ones(n + 1))
    with pytest.raises(ValueError, match="image_ids"):
        coco_keypoint_eval_arrays(gt_path, ids[:-1], kp, np.ones((n, 17)), np.ones(n))
    with pytest.raises(ValueError, match="not in the ground truth"):
        coco_keypoint_eval_arrays(gt_path, ids + 1, kp, np.ones((n, 17)), np.ones(n))
    with pytest.raises(ValueError, match="NaN"):
        coco_keypoint_eval_arrays(gt_path, ids, kp * np.nan, np.ones((n, 17)), np.ones(n))
    good = {"image_id": int(ids[0]), "category_id": 1, "keypoints": [0.0] * 51, "score": 1.0}
    with pytest.raises(ValueError, match="lacks"):
        coco_keypoint_eval([{k: v for k, v in good.items() if k != "score"}], gt_path)
    with pytest.raises(ValueError, match="51"):
        coco_keypoint_eval([{**good, "keypoints": [0.0] * 34}], gt_path)
    with pytest.raises(ValueError, match="images"):
        coco_keypoint_eval([good], {"annotations": []})


def test_oks(gt_arrays):
    kp, vis, area = gt_arrays["keypoints"], gt_arrays["visible"], gt_arrays["area"]
    np.testing.assert_allclose(oks(kp, kp, vis, area), 1.0)
    values = [oks(noisy(kp, std), kp, vis, area) for std in NOISE_STDS]
    assert all((a >= b).all() for a, b in zip(values, values[1:])) and (values[-1] < 1).all()
    # One keypoint off by d: OKS = (16 + exp(-d^2 / (2 area (2 sigma)^2))) / 17 (cocoapi formula).
    shifted = kp[:1].copy()
    shifted[0, 0, 0] += 5.0
    expected = (16 + np.exp(-25 / (2 * 1000 * (2 * 0.026) ** 2))) / 17
    np.testing.assert_allclose(oks(shifted, kp[:1], np.ones((1, 17)), [1000.0]), expected, rtol=1e-6)
    assert np.isnan(oks(kp[:1], kp[:1], np.zeros((1, 17)), [1000.0])[0])
    with pytest.raises(ValueError):
        oks(kp, kp[:-1], vis, area)


def test_pck(gt_arrays):
    kp, vis, bbox = gt_arrays["keypoints"], gt_arrays["visible"], gt_arrays["bbox"]
    perfect = pck(kp, kp, vis, bbox, alpha=0.05)
    assert perfect.overall == 1.0 and perfect.mean_per_keypoint == 1.0
    assert perfect.per_keypoint.shape == (17,) and (perfect.count == vis.sum(0)).all()
    values = [pck(noisy(kp, std), kp, vis, bbox).overall for std in NOISE_STDS]
    print("PCK@0.05 vs noise std", dict(zip(NOISE_STDS, np.round(values, 4))))
    assert all(a >= b for a, b in zip(values, values[1:])) and values[-1] < 0.8
    # Threshold alpha * max(w, h), strictly below counts; unlabelled keypoints are ignored.
    gt = np.zeros((1, 17, 2))
    pred = gt.copy()
    pred[0, :, 0] = np.arange(17)  # keypoint k is k px off
    only_first_8 = np.r_[np.ones(8), np.zeros(9)][None]
    result = pck(pred, gt, only_first_8, [[0, 0, 50.0, 100.0]], alpha=0.05)  # threshold 5 px
    assert result.overall == 5 / 8 and np.isnan(result.per_keypoint[8:]).all()
    with pytest.raises(ValueError):
        pck(kp, kp, vis, bbox[:, :2])
