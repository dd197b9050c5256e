"""Top-down dataset and transforms: geometry round trips on real COCO, augmentation, errors."""
from __future__ import annotations

import json
import math
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from sdpose_core.data.coco_meta import FLIP_INDEX, LOWER_BODY_IDS, NUM_KEYPOINTS, UPPER_BODY_IDS
from sdpose_core.data.topdown import (
    CocoKeypointDataset, collate, denormalize, load_image_crop, normalize_image, read_image_rgb,
    resolve_coco_source,
)
from sdpose_core.data.transforms import (
    AugmentConfig, apply_affine, augment, bbox_xywh_to_center_scale, crop_to_image,
    get_affine_matrix, invert_affine,
)

INPUT = (256, 192)  # (H, W)
NO_AUG = dict(flip_prob=0.0, half_body_prob=0.0, rotation_prob=0.0, scale_factor=0.0, shift_prob=0.0)


@pytest.fixture(scope="module")
def coco_dir(real_dir: Path) -> Path:
    return real_dir / "coco"


@pytest.fixture(scope="module")
def coco_val(coco_dir: Path) -> CocoKeypointDataset:
    return CocoKeypointDataset(coco_dir, input_size=INPUT)


def _round_trip_error(ds: CocoKeypointDataset) -> float:
    """Max |crop_to_image(item keypoints) - GT| over labelled keypoints of every item."""
    worst = 0.0
    for i in range(len(ds)):
        item = ds[i]
        gt = item["meta"]["orig_keypoints"]  # (17, 3)
        labelled = gt[:, 2] > 0
        back = crop_to_image(item["keypoints"], item["meta"])  # (17, 2)
        worst = max(worst, float(np.abs(back[labelled] - gt[labelled, :2]).max()))
    return worst


def _bilinear(image: np.ndarray, x: float, y: float) -> np.ndarray:
    x0, y0 = int(math.floor(x)), int(math.floor(y))
    ax, ay = x - x0, y - y0
    p = image[y0:y0 + 2, x0:x0 + 2].astype(np.float64)  # (2, 2, 3)
    top = p[0, 0] * (1 - ax) + p[0, 1] * ax
    bottom = p[1, 0] * (1 - ax) + p[1, 1] * ax
    return top * (1 - ay) + bottom * ay


# ----------------------------------------------------------------------------- source + length

def test_resolver_real_coco(coco_dir: Path, real_dir: Path) -> None:
    src = resolve_coco_source(coco_dir)
    assert src.annotation_file.name == "test_coco.json"  # not the detection file beside it
    assert src.image_dir == coco_dir
    assert resolve_coco_source(coco_dir / "test_coco.json").image_dir == coco_dir
    assert resolve_coco_source(real_dir / "ochuman").annotation_file.name == "test_ochuman.json"


def test_length_counts_persons(coco_dir: Path, real_dir: Path, coco_val: CocoKeypointDataset) -> None:
    anns = json.loads((coco_dir / "test_coco.json").read_text())["annotations"]
    with_kpts = [a for a in anns if not a["iscrowd"] and any(v > 0 for v in a["keypoints"][2::3])]
    assert (len(anns), len(with_kpts)) == (14, 12)  # README: 12 of 14 annotations
    assert len(coco_val) == 12
    assert {inst.ann_id for inst in coco_val.instances} == {a["id"] for a in with_kpts}
    assert len(CocoKeypointDataset(coco_dir, min_keypoints=16)) == sum(a["num_keypoints"] >= 16 for a in anns)
    assert len(CocoKeypointDataset(real_dir / "ochuman")) == 5


def test_item_layout(coco_val: CocoKeypointDataset) -> None:
    item = coco_val[0]
    assert item["image"].shape == (3, *INPUT) and item["image"].dtype == torch.float32
    assert item["keypoints"].shape == (NUM_KEYPOINTS, 2) and item["keypoints"].dtype == torch.float32
    assert item["visible"].shape == (NUM_KEYPOINTS,) and item["visible"].dtype == torch.float32
    meta = item["meta"]
    assert meta["matrix"].shape == (2, 3) and meta["orig_keypoints"].shape == (NUM_KEYPOINTS, 3)
    assert tuple(meta["image_size"]) == (425, 640)  # 000000000785.jpg is 640x425
    flags = item["keypoint_flags"].numpy()
    np.testing.assert_array_equal(flags, meta["orig_keypoints"][:, 2])
    assert set(np.unique(flags)) <= {0, 1, 2}


# ----------------------------------------------------------------------------- geometry

def test_center_scale_aspect_and_padding() -> None:
    c, s = bbox_xywh_to_center_scale([10, 20, 100, 50], aspect_ratio=0.75, padding=1.25)  # wide
    np.testing.assert_allclose(c, [60, 45])
    np.testing.assert_allclose(s, [100 * 1.25, 100 / 0.75 * 1.25])
    c, s = bbox_xywh_to_center_scale([0, 0, 30, 200], aspect_ratio=0.75, padding=1.0)  # tall
    np.testing.assert_allclose(c, [15, 100])
    np.testing.assert_allclose(s, [150, 200])
    for box in ([5, 5, 40, 41], [0, 0, 300, 20], [1, 2, 3, 4]):
        _, s = bbox_xywh_to_center_scale(box, 0.75, 1.25)
        assert s[0] / s[1] == pytest.approx(0.75)
        assert s[0] >= box[2] * 1.25 - 1e-9 and s[1] >= box[3] * 1.25 - 1e-9
        assert min(s[0] / (box[2] * 1.25), s[1] / (box[3] * 1.25)) == pytest.approx(1.0)


@pytest.mark.parametrize("rot", [0.0, 30.0, -75.0, 90.0])
def test_affine_matches_three_point_construction(rot: float) -> None:
    """Closed form == mmpose-style 3-point construction (centre, 'up' direction, 90 deg turn)."""
    center, scale, (h, w) = np.array([300.0, 200.0]), np.array([150.0, 200.0]), INPUT
    t = math.radians(rot)
    up = np.array([0.0, -0.5 * scale[0]])
    src_dir = np.array([up[0] * math.cos(t) - up[1] * math.sin(t), up[0] * math.sin(t) + up[1] * math.cos(t)])
    dst_c, dst_dir = np.array([w * 0.5, h * 0.5]), np.array([0.0, -0.5 * w])

    def third(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        d = a - b
        return b + np.array([-d[1], d[0]])

    src = np.stack([center, center + src_dir, third(center, center + src_dir)]).astype(np.float32)
    dst = np.stack([dst_c, dst_c + dst_dir, third(dst_c, dst_c + dst_dir)]).astype(np.float32)
    m = get_affine_matrix(center, scale, rot, INPUT)
    np.testing.assert_allclose(m, cv2.getAffineTransform(src, dst), atol=1e-4)
    inv = get_affine_matrix(center, scale, rot, INPUT, inverse=True)
    np.testing.assert_allclose(inv, invert_affine(m), atol=1e-9)
    np.testing.assert_allclose(apply_affine(center, m), [w / 2, h / 2], atol=1e-9)


def test_affine_window_and_rotation_direction() -> None:
    m = get_affine_matrix([100.0, 50.0], [60.0, 80.0], 0.0, INPUT)
    np.testing.assert_allclose(apply_affine(np.array([[70.0, 10.0], [130.0, 90.0]]), m), [[0, 0], [192, 256]])
    m90 = get_affine_matrix([100.0, 50.0], [60.0, 80.0], 90.0, INPUT)
    right_of_center = apply_affine(np.array([110.0, 50.0]), m90)  # content turns counter-clockwise
    np.testing.assert_allclose(right_of_center, [96.0, 128.0 - 10 * 192 / 60], atol=1e-9)


def test_round_trip_no_aug(coco_val: CocoKeypointDataset) -> None:
    err = _round_trip_error(coco_val)
    print(f"round-trip max error, no aug: {err:.2e} px")
    assert err < 1.0


def test_round_trip_with_aug(coco_dir: Path) -> None:
    cfg = AugmentConfig(rotation_prob=1.0, scale_factor=0.35, flip_prob=0.5, shift_prob=0.5)
    ds = CocoKeypointDataset(coco_dir, train=True, augment=cfg, seed=3)
    worst, rotations = 0.0, []
    for epoch in range(3):
        ds.set_epoch(epoch)
        worst = max(worst, _round_trip_error(ds))
        rotations += [ds.window(i).rotation for i in range(len(ds))]
    print(f"round-trip max error, rotation/scale/flip aug: {worst:.2e} px")
    assert worst < 1.0
    assert np.abs(rotations).max() > 20.0  # the augmented path really rotated


@pytest.mark.parametrize("train", [False, True])
def test_crop_pixel_matches_image_pixel(coco_dir: Path, train: bool) -> None:
    cfg = AugmentConfig(rotation_prob=1.0, flip_prob=0.0, half_body_prob=0.0)
    ds = CocoKeypointDataset(coco_dir, train=train, augment=cfg, seed=1)
    diffs, ranges_ok = [], []
    for i in range(len(ds)):
        item = ds[i]
        crop = denormalize(item["image"])  # (H, W, 3)
        image = read_image_rgb(item["meta"]["file_name"])
        for (u, v), vis in zip(item["keypoints"].numpy(), item["visible"].numpy()):
            ui, vi = int(round(u)), int(round(v))
            if not vis or not (0 <= ui < INPUT[1] and 0 <= vi < INPUT[0]):
                continue
            x, y = crop_to_image(np.array([ui, vi], dtype=np.float64), item["meta"], unflip=False)
            if not (0 <= x < image.shape[1] - 1 and 0 <= y < image.shape[0] - 1):
                continue
            got = crop[vi, ui].astype(np.float64)
            diffs.append(np.abs(got - _bilinear(image, x, y)).max())
            patch = image[int(y):int(y) + 2, int(x):int(x) + 2].reshape(-1, 3).astype(np.float64)
            ranges_ok.append(bool(np.all((got >= patch.min(0) - 2) & (got <= patch.max(0) + 2))))
    assert len(diffs) > 100
    assert all(ranges_ok)
    assert max(diffs) <= 1.5  # cv2's fixed-point bilinear vs float bilinear: rounding only


# ----------------------------------------------------------------------------- augmentation

def test_flip_mirrors_crop_and_swaps_sides(coco_dir: Path, coco_val: CocoKeypointDataset) -> None:
    flip = CocoKeypointDataset(coco_dir, train=True, augment=AugmentConfig(**{**NO_AUG, "flip_prob": 1.0}))
    w = INPUT[1]
    for i in range(len(coco_val)):
        a, b = coco_val[i], flip[i]
        assert b["meta"]["flipped"] and not a["meta"]["flipped"]
        assert torch.equal(torch.flip(b["image"], dims=[2]), a["image"])
        idx = list(FLIP_INDEX)
        ka, kb = a["keypoints"].numpy(), b["keypoints"].numpy()
        lab = a["keypoint_flags"].numpy()[idx] > 0
        np.testing.assert_allclose(kb[lab, 0], (w - 1) - ka[idx][lab, 0], atol=1e-3)
        np.testing.assert_allclose(kb[lab, 1], ka[idx][lab, 1], atol=1e-3)
        assert torch.equal(b["keypoint_flags"], a["keypoint_flags"][idx])
        assert torch.equal(b["visible"], a["visible"][idx])
        gt = b["meta"]["orig_keypoints"]
        back = crop_to_image(b["keypoints"], b["meta"])  # unflips the order too
        np.testing.assert_allclose(back[gt[:, 2] > 0], gt[gt[:, 2] > 0, :2], atol=1e-3)


def test_same_seed_epoch_index_is_reproducible(coco_dir: Path) -> None:
    a = CocoKeypointDataset(coco_dir, train=True, seed=7)
    b = CocoKeypointDataset(coco_dir, train=True, seed=7)
    a.set_epoch(1)
    b.set_epoch(1)
    first_b = b[5]  # b sees index 5 before anything else: order must not matter
    for i in range(len(a)):
        ia = a[i]
        ib = first_b if i == 5 else b[i]
        assert torch.equal(ia["image"], ib["image"]) and torch.equal(ia["keypoints"], ib["keypoints"])
    windows_e1 = [(a.window(i).center.tolist(), a.window(i).rotation) for i in range(len(a))]
    a.set_epoch(2)
    windows_e2 = [(a.window(i).center.tolist(), a.window(i).rotation) for i in range(len(a))]
    assert windows_e1 != windows_e2
    assert any(not torch.equal(a[i]["image"], b[i]["image"]) for i in range(len(a)))
    c = CocoKeypointDataset(coco_dir, train=True, seed=8)
    c.set_epoch(1)
    assert any(c.window(i).rotation != windows_e1[i][1] for i in range(len(c)))


def test_augmentation_independent_of_worker_order(coco_dir: Path) -> None:
    ds = CocoKeypointDataset(coco_dir, train=True, seed=5)
    ds.set_epoch(4)
    order = [7, 2, 11, 0, 5]
    loader = torch.utils.data.DataLoader(
        torch.utils.data.Subset(ds, order), batch_size=1, num_workers=2, collate_fn=collate)
    for index, batch in zip(order, loader):
        assert torch.equal(batch["image"][0], ds[index]["image"])
        assert batch["meta"][0]["index"] == index


def test_half_body_picks_a_subset() -> None:
    rng = np.random.default_rng(0)
    xy = rng.uniform(50, 250, size=(NUM_KEYPOINTS, 2))
    kpts = np.concatenate([xy, np.full((NUM_KEYPOINTS, 1), 2.0)], 1)  # (17, 3)
    kpts[11:, 1] += 300  # legs below the torso
    center, scale = bbox_xywh_to_center_scale([50, 50, 200, 500], 0.75)
    cfg = AugmentConfig(**{**NO_AUG, "half_body_prob": 1.0})
    parts = set()
    for seed in range(20):
        p = augment(center, scale, kpts, cfg, np.random.default_rng(seed), 0.75)
        ids = list(UPPER_BODY_IDS if p.half_body == "upper" else LOWER_BODY_IDS)
        parts.add(p.half_body)
        np.testing.assert_allclose(p.center, kpts[ids, :2].mean(0))
        assert p.scale[0] < scale[0] and p.scale[0] / p.scale[1] == pytest.approx(0.75)
        m = get_affine_matrix(p.center, p.scale, 0.0, INPUT)
        inside = apply_affine(kpts[ids, :2], m)
        assert np.all((inside >= 0) & (inside <= [INPUT[1], INPUT[0]]))
    assert parts == {"upper", "lower"}
    few = kpts.copy()
    few[8:, 2] = 0  # 8 labelled joints: mmpose needs more than 8
    assert augment(center, scale, few, cfg, np.random.default_rng(0), 0.75).half_body is None


def test_half_body_in_dataset(coco_dir: Path, coco_val: CocoKeypointDataset) -> None:
    ds = CocoKeypointDataset(coco_dir, train=True, augment=AugmentConfig(**{**NO_AUG, "half_body_prob": 1.0}))
    fired = [i for i in range(len(ds)) if ds.window(i).half_body is not None]
    assert fired
    for i in fired:
        assert ds[i]["meta"]["scale"][0] < coco_val[i]["meta"]["scale"][0]


# ----------------------------------------------------------------------------- modes + API

def test_detections_mode(coco_dir: Path) -> None:
    det_file = coco_dir / "test_coco_det_AP_H_56.json"
    dets = json.loads(det_file.read_text())
    ds = CocoKeypointDataset(coco_dir, use_detections=det_file)
    assert len(ds) == sum(d["category_id"] == 1 for d in dets)
    item = ds[0]
    assert item["meta"]["ann_id"] == -1 and item["meta"]["score"] == pytest.approx(dets[0]["score"])
    assert item["image"].shape == (3, *INPUT) and float(item["visible"].sum()) == 0.0
    c, _ = bbox_xywh_to_center_scale(dets[0]["bbox"], 0.75)
    np.testing.assert_allclose(item["meta"]["center"], c)
    assert len(CocoKeypointDataset(coco_dir, use_detections=det_file, det_score_thr=0.5)) < len(ds)


def test_collate_and_target_fn(coco_dir: Path) -> None:
    def target_fn(kpts: np.ndarray, vis: np.ndarray) -> dict:
        return {"target": np.zeros((NUM_KEYPOINTS, 4, 3), np.float32), "target_weight": vis.copy()}

    ds = CocoKeypointDataset(coco_dir, train=True, target_fn=target_fn)
    loader = torch.utils.data.DataLoader(ds, batch_size=4, collate_fn=collate)
    batch = next(iter(loader))
    assert batch["image"].shape == (4, 3, *INPUT) and batch["target"].shape == (4, NUM_KEYPOINTS, 4, 3)
    assert torch.equal(batch["target_weight"], batch["visible"])
    assert isinstance(batch["meta"], list) and len(batch["meta"]) == 4 and batch["meta"][3]["index"] == 3
    bad = CocoKeypointDataset(coco_dir, target_fn=lambda k, v: {"visible": v})
    with pytest.raises(ValueError, match="reserved"):
        bad[0]


def test_denormalize_inverts_normalize() -> None:
    img = np.random.default_rng(0).integers(0, 256, size=(8, 6, 3), dtype=np.uint8)
    np.testing.assert_array_equal(denormalize(normalize_image(img)), img)
    assert denormalize(torch.stack([normalize_image(img)] * 2)).shape == (2, 8, 6, 3)


def test_load_image_crop(coco_val: CocoKeypointDataset) -> None:
    item = coco_val[3]
    image = read_image_rgb(item["meta"]["file_name"])
    tensor, meta = load_image_crop(image, item["meta"]["bbox"], INPUT)
    assert torch.equal(tensor, item["image"])
    np.testing.assert_allclose(meta["matrix"], item["meta"]["matrix"])
    whole, meta = load_image_crop(image[:, :, 0], None, INPUT)  # grayscale, no box
    assert whole.shape == (3, *INPUT)
    h, w = image.shape[:2]
    np.testing.assert_allclose(crop_to_image(np.array([96.0, 128.0]), meta), [w / 2, h / 2])


# ----------------------------------------------------------------------------- SynthPose-like folder

def _write_synth_folder(root: Path) -> np.ndarray:
    """Two 90x120 images (one grayscale) with a coloured 7x7 square on each keypoint."""
    (root / "images").mkdir(parents=True)
    rng = np.random.default_rng(0)
    kpts = np.concatenate([rng.integers(20, 70, size=(NUM_KEYPOINTS, 1)),
                           rng.integers(15, 105, size=(NUM_KEYPOINTS, 1)),
                           np.full((NUM_KEYPOINTS, 1), 2)], 1).astype(np.float64)
    kpts[3] = [0, 0, 0]  # one unlabelled joint
    img = np.zeros((120, 90, 3), np.uint8)
    for k, (x, y, v) in enumerate(kpts):
        if v > 0:
            img[int(y) - 3:int(y) + 4, int(x) - 3:int(x) + 4] = (10 * k + 40, 200, 255 - 10 * k)  # RGB
    cv2.imwrite(str(root / "images" / "000000.png"), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
    cv2.imwrite(str(root / "images" / "000001.png"), img[:, :, 0])
    ann = [dict(id=i + 1, image_id=i, category_id=1, iscrowd=0, bbox=[10, 5, 70, 110],
                keypoints=kpts.ravel().tolist(), num_keypoints=16, area=7700) for i in range(2)]
    coco = dict(images=[dict(id=i, file_name=f"{i:06d}.png", width=90, height=120) for i in range(2)],
                annotations=ann, categories=[dict(id=1, name="person")])
    (root / "annotations.json").write_text(json.dumps(coco))
    return img


def test_synthpose_like_folder(tmp_path: Path) -> None:
    img = _write_synth_folder(tmp_path / "synth")
    ds = CocoKeypointDataset(tmp_path / "synth")
    assert ds.image_dir == tmp_path / "synth" / "images" and len(ds) == 2
    assert CocoKeypointDataset(tmp_path / "synth" / "annotations.json").image_dir == ds.image_dir
    item = ds[0]
    crop = denormalize(item["image"])
    gt = item["meta"]["orig_keypoints"]
    for k, ((u, v), vis) in enumerate(zip(item["keypoints"].numpy(), item["visible"].numpy())):
        assert vis == (gt[k, 2] > 0)
        if vis:
            want = img[int(gt[k, 1]), int(gt[k, 0])]  # the square's colour
            np.testing.assert_array_equal(crop[int(round(v)), int(round(u))], want)
    gray = denormalize(ds[1]["image"])
    assert np.array_equal(gray[..., 0], gray[..., 1]) and np.array_equal(gray[..., 1], gray[..., 2])


# ----------------------------------------------------------------------------- errors

def test_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="not found"):
        CocoKeypointDataset(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no COCO keypoints annotation json"):
        CocoKeypointDataset(tmp_path / "empty")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "annotations.json").write_text('{"images": [}')
    with pytest.raises(ValueError, match="malformed JSON"):
        CocoKeypointDataset(tmp_path / "bad")
    (tmp_path / "shape").mkdir()
    (tmp_path / "shape" / "x.json").write_text('{"images": []}')
    with pytest.raises(FileNotFoundError, match="no COCO"):
        CocoKeypointDataset(tmp_path / "shape")
    with pytest.raises(ValueError, match="not a COCO keypoints file"):
        CocoKeypointDataset(tmp_path / "shape" / "x.json")
    (tmp_path / "nokp").mkdir()
    nokp = dict(images=[dict(id=1, file_name="a.png", width=10, height=10)],
                annotations=[dict(id=1, image_id=1, category_id=1, iscrowd=0, bbox=[0, 0, 5, 5],
                                  keypoints=[0] * 51, num_keypoints=0)])
    (tmp_path / "nokp" / "annotations.json").write_text(json.dumps(nokp))
    with pytest.raises(ValueError, match="no person annotations"):
        CocoKeypointDataset(tmp_path / "nokp")
    with pytest.raises(FileNotFoundError, match="detection file not found"):
        CocoKeypointDataset(tmp_path / "nokp", use_detections=tmp_path / "nope.json")
