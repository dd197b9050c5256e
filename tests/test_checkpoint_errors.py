"""Checkpoint loading refuses bad files with a clear CheckpointError naming the file and the problem."""
from __future__ import annotations

import os
import pickle

import pytest
import torch

from sdpose_core import load_model
from sdpose_core.errors import CheckpointError
from sdpose_core.io.checkpoint import save_backbone, save_model
from sdpose_core.models import build_model


@pytest.fixture(scope="module")
def student():
    torch.manual_seed(0)
    return build_model("synth-student")


@pytest.fixture
def saved(tmp_path, student):
    return save_model(student, tmp_path / "student.pt")


class _RunsCode:
    """Unpickling this would call os.system (creating a marker file) if the loader allowed it."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_wrong_architecture_lists_keys(tmp_path, saved):
    ckpt = torch.load(saved, weights_only=True)
    state = ckpt["state_dict"]
    del state["encoder.keypoint_token"]
    state["encoder.patch_to_embedding.weight"] = torch.zeros(7, 7)
    state["head.extra.weight"] = torch.zeros(3)
    torch.save(ckpt, tmp_path / "bad.pt")
    with pytest.raises(CheckpointError) as err:
        load_model(tmp_path / "bad.pt")
    msg = str(err.value)
    assert "bad.pt" in msg
    assert "missing keys" in msg and "encoder.keypoint_token" in msg
    assert "unexpected keys" in msg and "head.extra.weight" in msg
    assert "wrong-shape keys" in msg and "encoder.patch_to_embedding.weight" in msg and "(7, 7)" in msg


def test_official_layout_mismatch_lists_keys(tmp_path, official_dir):
    state = torch.load(official_dir / "sdpose_t" / "checkpoint.pth", weights_only=True)["state_dict"]
    del state["keypoint_head.tokenpose.transformer_layer1.layers.2.1.fn.fn.net.3.bias"]
    state["keypoint_head.tokenpose.mlp_head.1.bias"] = torch.zeros(5)
    state["keypoint_head.tokenpose.to_pos_extra.weight"] = torch.zeros(1)
    torch.save({"state_dict": state}, tmp_path / "official_bad.pth")
    with pytest.raises(CheckpointError) as err:
        load_model(tmp_path / "official_bad.pth")
    msg = str(err.value)
    assert "official_bad.pth" in msg
    assert "encoder.transformer.layers.2.ff.fc2.bias" in msg  # missing, in our naming
    assert "head.mlp_head.1.bias" in msg and "(5,)" in msg  # wrong shape
    assert "to_pos_extra" in msg  # unexpected


def test_truncated_file(tmp_path, saved):
    data = saved.read_bytes()
    (tmp_path / "truncated.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match=r"truncated.pt.*(truncated|corrupt)"):
        load_model(tmp_path / "truncated.pt")


def test_pickle_with_code_is_refused_and_not_run(tmp_path):
    marker = tmp_path / "PWNED"
    for name, writer in {"evil.pkl": lambda p, o: p.write_bytes(pickle.dumps(o)),
                         "evil.pt": lambda p, o: torch.save(o, p)}.items():
        path = tmp_path / name
        writer(path, {"state_dict": {}, "payload": _RunsCode(marker)})
        with pytest.raises(CheckpointError, match=rf"{name}.*refused"):
            load_model(path)
        assert not marker.exists(), "the pickled code ran"


def test_nan_weights(tmp_path, saved):
    ckpt = torch.load(saved, weights_only=True)
    ckpt["state_dict"]["head.mlp_head.1.weight"][0, 0] = float("nan")
    ckpt["state_dict"]["encoder.keypoint_token"][0, 0, 0] = float("inf")
    torch.save(ckpt, tmp_path / "nan.pt")
    with pytest.raises(CheckpointError, match=r"nan.pt.*NaN/Inf.*head.mlp_head.1.weight") as err:
        load_model(tmp_path / "nan.pt")
    assert "encoder.keypoint_token" in str(err.value)


def test_text_file(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("these are not weights\n" * 20)
    with pytest.raises(CheckpointError, match=r"notes.txt.*text file"):
        load_model(path)


def test_empty_and_missing(tmp_path):
    (tmp_path / "empty.pt").write_bytes(b"")
    with pytest.raises(CheckpointError, match="empty"):
        load_model(tmp_path / "empty.pt")
    with pytest.raises(CheckpointError, match="no such file"):
        load_model(tmp_path / "nothing-here.pt")


def test_not_a_model_checkpoint(tmp_path):
    torch.save({"optimizer": {"lr": 0.1}}, tmp_path / "opt.pt")
    with pytest.raises(CheckpointError, match="opt.pt"):
        load_model(tmp_path / "opt.pt")
    torch.save({"state_dict": {"fc.weight": torch.zeros(2, 2)}}, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="unrecognised checkpoint layout"):
        load_model(tmp_path / "other.pt")


def test_checkpoint_error_is_value_error():
    assert issubclass(CheckpointError, ValueError)


def test_shared_backbone_round_trip_and_confinement(tmp_path):
    """Students saved with ``backbone_file`` load the sibling's backbone; fp16 storage stays close;
    a backbone_file outside the folder is refused."""
    from sdpose_core.models.backbone import load_backbone_

    torch.manual_seed(0)
    source = build_model("synth-backbone")
    save_model(source, tmp_path / "backbone.pt", half=True)
    student = load_backbone_(build_model("synth-simcc"), source).eval()
    save_model(student, tmp_path / "student.pt", half=True, backbone_file="backbone.pt")
    stored = torch.load(tmp_path / "student.pt", weights_only=True)["state_dict"]
    assert not any(k.startswith("backbone.") for k in stored)
    loaded = load_model(tmp_path / "student.pt")
    x = torch.randn(2, 3, 128, 96)
    with torch.no_grad():
        diff = (loaded(x)[0].simcc_x - student(x)[0].simcc_x).abs().max()
    assert diff < 1e-2
    with pytest.raises(ValueError, match="bare file name"):
        save_model(student, tmp_path / "bad.pt", backbone_file="../backbone.pt")
    payload = torch.load(tmp_path / "student.pt", weights_only=True)
    payload["backbone_file"] = "../elsewhere.pt"
    torch.save(payload, tmp_path / "escape.pt")
    with pytest.raises(CheckpointError, match="bare file name"):
        load_model(tmp_path / "escape.pt")
    # a snapshot two folders down finds the shared file; nothing further up is searched
    deep = tmp_path / "run" / "history"
    deep.mkdir(parents=True)
    save_model(student, deep / "epoch_000.pt", half=True, backbone_file="backbone.pt")
    assert load_model(deep / "epoch_000.pt").config.name == "synth-simcc"
    (deep / "deeper").mkdir()
    save_model(student, deep / "deeper" / "x.pt", backbone_file="backbone.pt")
    with pytest.raises(CheckpointError, match="not in its folder"):
        load_model(deep / "deeper" / "x.pt")
    (tmp_path / "backbone.pt").unlink()
    with pytest.raises(CheckpointError, match="no such file"):
        load_model(tmp_path / "student.pt")
    save_backbone(source, tmp_path / "backbone.pt")  # a backbone-only file serves as well
    assert load_model(tmp_path / "student.pt").config.name == "synth-simcc"
