"""ONNX pose models (issue 7, part 2): RTMPose-layout export, torch vs ONNX Runtime parity, running
any such file through load_model / predict / eval, and clear refusals of other graphs."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip("onnxruntime", reason="ONNX tests need the 'real' extra: pip install -e '.[real]'")
pytest.importorskip("onnx", reason="ONNX export needs the 'real' extra: pip install -e '.[real]'")

from sdpose_core import load_model  # noqa: E402
from sdpose_core.cli import main as cli_main  # noqa: E402
from sdpose_core.data.topdown import CocoKeypointDataset  # noqa: E402
from sdpose_core.data.transforms import normalize_image  # noqa: E402
from sdpose_core.errors import CheckpointError  # noqa: E402
from sdpose_core.evaluate.inference import run_pose  # noqa: E402
from sdpose_core.evaluate.predict import evaluate_model, predict_dataset  # noqa: E402
from sdpose_core.models.zoo import ZOO, build_model  # noqa: E402
from sdpose_core.real.common import RTMPOSE_MEAN, RTMPOSE_STD, to_rtmpose  # noqa: E402
from sdpose_core.real.onnx_pose import OnnxPoseModel, export_onnx  # noqa: E402

PARITY_TOL = 1e-4


@pytest.fixture(scope="module")
def simcc(tmp_path_factory) -> tuple[torch.nn.Module, Path]:
    """A seeded random synth-simcc student and its ONNX export."""
    torch.manual_seed(3)
    model = build_model("synth-simcc").eval()
    path = export_onnx(model, tmp_path_factory.mktemp("onnx") / "synth-simcc.onnx")
    return model, path


def test_export_has_the_rtmpose_layout(simcc):
    import onnx

    _, path = simcc
    graph = onnx.load(str(path)).graph
    dims = lambda v: [d.dim_value for d in v.type.tensor_type.shape.dim]  # noqa: E731
    assert [i.name for i in graph.input] == ["input"] and dims(graph.input[0]) == [1, 3, 128, 96]
    assert {o.name: dims(o) for o in graph.output} == {"simcc_x": [1, 17, 192], "simcc_y": [1, 17, 256]}


def test_torch_onnx_parity(simcc):
    model, path = simcc
    onnx_model = OnnxPoseModel(path)
    images = torch.randn(3, 3, 128, 96, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        ours = model(images)[0]
    theirs = onnx_model(images)[0]
    for name in ("simcc_x", "simcc_y"):
        a, b = getattr(ours, name), getattr(theirs, name)
        assert a.shape == b.shape
        assert float((a - b).abs().max()) <= PARITY_TOL, name
    assert not model.training  # export leaves the model in the mode it found it


def test_load_model_dispatches_onnx_and_infers_the_layout(simcc):
    _, path = simcc
    model = load_model(path)
    assert isinstance(model, OnnxPoseModel)
    cfg = model.config
    assert (cfg.head, cfg.input_size, cfg.num_keypoints, cfg.simcc_split_ratio) == ("simcc", (128, 96), 17, 2.0)
    assert cfg.model_type == "cnn"  # no tokens: the explorer's attention tab leaves it alone


def test_onnx_model_runs_through_predict_and_eval(simcc, real_dir):
    model, path = simcc
    onnx_model = load_model(path)
    ds = CocoKeypointDataset(real_dir / "coco", input_size=(128, 96))
    ours = predict_dataset(model, ds, progress=False)
    theirs = predict_dataset(onnx_model, ds, progress=False)
    np.testing.assert_allclose(theirs.keypoints, ours.keypoints, atol=1e-3)
    metrics = evaluate_model(onnx_model, ds, progress=False)
    assert {"AP", "AR", "PCK@0.2"} <= set(metrics)
    image = (np.random.default_rng(0).random((90, 70, 3)) * 255).astype(np.uint8)
    a, b = run_pose(model, image), run_pose(onnx_model, image)
    np.testing.assert_allclose(b.keypoints, a.keypoints, atol=1e-3)


def test_input_size_is_read_from_the_graph(tmp_path):
    torch.manual_seed(0)
    model = build_model(replace(ZOO["synth-simcc"], input_size=(256, 192))).eval()
    loaded = load_model(export_onnx(model, tmp_path / "rtm_like.onnx"))
    assert loaded.config.input_size == (256, 192)
    out = loaded(torch.zeros(1, 3, 256, 192))[0]
    assert tuple(out.simcc_x.shape) == (1, 17, 384) and tuple(out.simcc_y.shape) == (1, 17, 512)
    with pytest.raises(ValueError, match=r"takes \(256, 192\) crops"):
        loaded(torch.zeros(1, 3, 128, 96))


def test_rtmpose_normalisation_matches_ours():
    rgb = (np.random.default_rng(1).random((20, 16, 3)) * 255).astype(np.uint8)
    ours = normalize_image(rgb)[None]  # ImageNet mean/std on [0, 1]
    expected = (rgb.astype(np.float32) - RTMPOSE_MEAN) / RTMPOSE_STD  # RTMPose on 0..255
    np.testing.assert_allclose(to_rtmpose(ours)[0], expected.transpose(2, 0, 1), atol=1e-5)


def test_wrong_outputs_and_bad_files_are_refused(tmp_path):
    from onnx import TensorProto, helper, save_model

    x = helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, 64, 48])
    y = helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 3, 64, 48])
    graph = helper.make_graph([helper.make_node("Identity", ["input"], ["output"])], "g", [x], [y])
    save_model(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8),
               tmp_path / "identity.onnx")
    with pytest.raises(CheckpointError, match=r"identity\.onnx: expected .*'simcc_x'.*'simcc_y'.*outputs: output"):
        load_model(tmp_path / "identity.onnx")
    (tmp_path / "junk.onnx").write_bytes(b"not a graph")
    with pytest.raises(CheckpointError, match=r"junk\.onnx: not a readable ONNX model"):
        load_model(tmp_path / "junk.onnx")
    with pytest.raises(CheckpointError, match=r"missing\.onnx: no such file"):
        load_model(tmp_path / "missing.onnx")


def test_export_refuses_non_simcc_models(tmp_path):
    with pytest.raises(ValueError, match="export-onnx writes SimCC models"):
        export_onnx(build_model("synth-student"), tmp_path / "x.onnx")
    assert not (tmp_path / "x.onnx").exists()


def test_cli_export_onnx(tmp_path, capsys):
    out = tmp_path / "cli.onnx"
    assert cli_main(["export-onnx", "--model", "synth-simcc", "--out", str(out)]) == 0
    assert "simcc_x" in capsys.readouterr().out
    assert load_model(out).config.input_size == (128, 96)
    assert cli_main(["export-onnx", "--model", "synth-regression", "--out", str(tmp_path / "r.onnx")]) == 2
    assert "export-onnx writes SimCC models" in capsys.readouterr().err


def test_explorer_lists_onnx_files_of_the_checkpoint_folder(simcc, tmp_path):
    pytest.importorskip("gradio")
    import shutil

    from explorer.models import ModelSet

    shutil.copy(simcc[1], tmp_path / "rtmpose-like.onnx")
    models = ModelSet.load(tmp_path, warmup=False)
    assert "onnx:rtmpose-like" in models.roles(students_only=True)
    assert models.get("onnx:rtmpose-like").label == "onnx: rtmpose-like.onnx"
    image = (np.random.default_rng(0).random((90, 70, 3)) * 255).astype(np.uint8)
    assert models.result("onnx:rtmpose-like", image, None, attention=True).keypoints.shape == (17, 2)


def test_wholebody_graphs_are_read_as_their_coco_body_points(tmp_path):
    """133 keypoints (COCO-WholeBody, as DWPose): the first 17 are the COCO body keypoints."""
    torch.manual_seed(0)
    model = build_model(replace(ZOO["synth-simcc"], num_keypoints=133)).eval()
    loaded = load_model(export_onnx(model, tmp_path / "wholebody.onnx"))
    assert loaded.graph_keypoints == 133 and loaded.config.num_keypoints == 17
    images = torch.randn(1, 3, 128, 96)
    with torch.no_grad():
        ours = model(images)[0].simcc_x[:, :17]
    assert float((loaded(images)[0].simcc_x - ours).abs().max()) <= PARITY_TOL
