"""SimCC pose models as ONNX files in the RTMPose / DWPose layout, run with ONNX Runtime.

Layout (what mmdeploy writes for RTMPose and what DWPose ships): one image input (1, 3, H, W),
RGB normalised with mean (123.675, 116.28, 103.53) / std (58.395, 57.12, 57.375) on 0..255, and
two outputs ``simcc_x`` (1, K, W * r) and ``simcc_y`` (1, K, H * r), r = 2.

:func:`export_onnx` writes our SimCC models in that layout; :class:`OnnxPoseModel` runs any such
file (ours, or an official RTMPose / DWPose download) as a model with a SimCC head, so it plugs
into ``predict``, ``sdpose eval``, ``run_pose`` and the explorer like our own models.
"""
from __future__ import annotations

import os
import tempfile
import threading
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from sdpose_core.errors import CheckpointError
from sdpose_core.models.outputs import CycleOutput

from .assets import MissingExtraError
from .common import check_images, external_config, to_rtmpose

COCO_K = 17
EXPECTED = ("one image input (1, 3, H, W) and outputs 'simcc_x' (1, K, W*r) and 'simcc_y' "
            "(1, K, H*r) (RTMPose / DWPose layout)")


def _onnxruntime():
    try:
        import onnxruntime
    except ImportError:
        raise MissingExtraError("ONNX models need onnxruntime: pip install -e '.[real]'") from None
    return onnxruntime


def _input_size(session, source: str) -> tuple[str, tuple[int, int]]:
    inputs = session.get_inputs()
    if len(inputs) != 1 or len(inputs[0].shape) != 4:
        got = ", ".join(f"{i.name} {i.shape}" for i in inputs)
        raise CheckpointError(f"{source}: expected {EXPECTED}; the graph has inputs: {got}")
    shape = inputs[0].shape
    if not all(isinstance(v, int) and v > 0 for v in shape[2:]) or shape[1] not in (3, "3"):
        raise CheckpointError(f"{source}: the input {inputs[0].name} {shape} has no fixed (3, H, W) size; "
                              f"expected {EXPECTED}")
    return inputs[0].name, (int(shape[2]), int(shape[3]))


def _simcc_outputs(session, source: str, probe: dict[str, np.ndarray]) -> tuple[int, float]:
    """Check the simcc_x / simcc_y outputs on a probe run; returns K and the split ratio."""
    names = [o.name for o in session.get_outputs()]
    if not {"simcc_x", "simcc_y"} <= set(names):
        got = ", ".join(f"{o.name} {o.shape}" for o in session.get_outputs())
        raise CheckpointError(f"{source}: expected {EXPECTED}; the graph has outputs: {got}")
    try:
        x, y = session.run(["simcc_x", "simcc_y"], probe)
    except Exception as err:  # onnxruntime raises its own exception types
        raise CheckpointError(f"{source}: the graph does not run on a blank image ({str(err)[:300]})") from None
    (h, w) = next(iter(probe.values())).shape[2:]
    if x.ndim != 3 or y.ndim != 3 or x.shape[:2] != y.shape[:2]:
        raise CheckpointError(f"{source}: expected {EXPECTED}; got simcc_x {x.shape}, simcc_y {y.shape}")
    ratio_x, ratio_y = x.shape[-1] / w, y.shape[-1] / h
    if abs(ratio_x - ratio_y) > 1e-6 or ratio_x <= 0:
        raise CheckpointError(f"{source}: simcc_x {x.shape} / width {w} and simcc_y {y.shape} / height {h} "
                              "give different bins per pixel; expected one split ratio for both")
    return int(x.shape[1]), float(ratio_x)


class OnnxPoseModel(nn.Module):
    """An RTMPose-layout ONNX file as a SimCC pose model (no trainable weights).

    ``forward`` takes our normalised crops (B, 3, H, W) at the graph's input size, converts them
    to RTMPose normalisation (numerically the same numbers) and returns ``[CycleOutput]`` with
    ``simcc_x`` / ``simcc_y``. A graph with more than 17 keypoints (COCO-WholeBody 133 as DWPose,
    Halpe 26) is read as its first 17, the COCO body keypoints those layouts start with.

    Args:
        path: the ``.onnx`` file.
        threads: ONNX Runtime intra-op threads (default: up to 4).

    Raises:
        CheckpointError: unreadable file or wrong inputs / outputs (the message names the layout).
        MissingExtraError: onnxruntime is not installed.
    """

    def __init__(self, path: str | os.PathLike, threads: int | None = None) -> None:
        super().__init__()
        ort = _onnxruntime()
        path = Path(path)
        if not path.is_file():
            raise CheckpointError(f"{path}: no such file")
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or max(1, min(4, os.cpu_count() or 1))
        options.log_severity_level = 3
        try:
            self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as err:  # InvalidProtobuf, Fail, NoSuchFile ...
            raise CheckpointError(f"{path}: not a readable ONNX model ({str(err).strip()[:300]})") from None
        self.input_name, size = _input_size(self.session, str(path))
        probe = {self.input_name: np.zeros((1, 3, *size), np.float32)}
        k, ratio = _simcc_outputs(self.session, str(path), probe)
        self.path = path
        self.name = path.name
        # our exports name their model and source (export_onnx); official files carry their own keys
        self.metadata = dict(self.session.get_modelmeta().custom_metadata_map)
        self.graph_keypoints = k
        # COCO-WholeBody (133, DWPose) and Halpe-26 models list the COCO-17 body points first
        self.keypoints = COCO_K if k > COCO_K else k
        self.config = external_config(path.name, "simcc", size, num_keypoints=self.keypoints,
                                      simcc_split_ratio=ratio)
        self._lock = threading.Lock()

    def forward(self, images: torch.Tensor, cycles: int | None = None,
                return_attention: bool = False) -> list[CycleOutput]:
        """Normalised crops (B, 3, H, W) -> ``[CycleOutput(simcc_x, simcc_y)]``, one image per run."""
        check_images(images, self.name)
        if tuple(images.shape[-2:]) != tuple(self.config.input_size):
            raise ValueError(f"{self.name} takes {self.config.input_size} crops, got {tuple(images.shape[-2:])}")
        xs, ys = [], []
        for one in to_rtmpose(images):  # the graphs are exported with batch size 1
            with self._lock:
                x, y = self.session.run(["simcc_x", "simcc_y"], {self.input_name: one[None]})
            xs.append(x[0, :self.keypoints])
            ys.append(y[0, :self.keypoints])
        return [CycleOutput(simcc_x=torch.from_numpy(np.stack(xs)), simcc_y=torch.from_numpy(np.stack(ys)))]

    def extra_repr(self) -> str:
        return f"path={str(self.path)!r}, input_size={self.config.input_size}"


class _SimccGraph(nn.Module):
    """Our model as a function image -> (simcc_x, simcc_y), first cycle."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.model(image)[0]
        return out.simcc_x, out.simcc_y


def _fix_output_shapes(path: str, shapes: list[tuple[int, ...]], metadata: dict[str, str]) -> None:
    """Write the exporter's symbolic output dims as the fixed sizes (as official RTMPose files have),
    and ``metadata`` as the graph's metadata_props."""
    import onnx

    proto = onnx.load(path)
    for output, shape in zip(proto.graph.output, shapes):
        dims = output.type.tensor_type.shape.dim
        for dim, size in zip(dims, shape):
            dim.dim_value = int(size)
    onnx.helper.set_model_props(proto, metadata)
    onnx.save(proto, path)


def export_onnx(model: nn.Module, out: str | os.PathLike, opset: int = 17, source: str | None = None) -> Path:
    """Write a SimCC model as an RTMPose-layout ONNX file (input ``input``; batch size 1).

    The graph's metadata names the model (``sdpose.model``: its config name) and, when given, where
    it was loaded from (``sdpose.source``: a zoo name or checkpoint path), so that the explorer can
    say what the file was trained on.

    Raises:
        ValueError: the model has no SimCC head.
        MissingExtraError: the ``onnx`` package (needed by the exporter) is missing.
    """
    cfg = getattr(model, "config", None)
    if cfg is None or cfg.head != "simcc" or isinstance(model, OnnxPoseModel):
        what = "no config" if cfg is None else f"a {cfg.head!r} head"
        raise ValueError(f"export-onnx writes SimCC models (zoo: synth-simcc, synth-simcc-teacher); "
                         f"this model has {what}")
    try:
        import onnx  # noqa: F401  (the TorchScript exporter serialises through it)
    except ImportError:
        raise MissingExtraError("exporting ONNX needs the onnx package: pip install -e '.[real]'") from None
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    was_training = model.training
    graph = _SimccGraph(model).eval()  # export restores the wrapper's mode: keep it eval
    dummy = torch.zeros(1, 3, *cfg.input_size)
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=".part-", suffix=".onnx")
    os.close(fd)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(graph, (dummy,), tmp, input_names=["input"], output_names=["simcc_x", "simcc_y"],
                              opset_version=opset, dynamo=False, do_constant_folding=True)
        with torch.no_grad():
            if source and Path(source).is_file():
                source = str(Path(source).resolve())
            metadata = {"sdpose.model": cfg.name, **({"sdpose.source": str(source)} if source else {})}
            _fix_output_shapes(tmp, [tuple(t.shape) for t in graph(dummy)], metadata)
        os.replace(tmp, out)
    finally:
        model.train(was_training)
        if os.path.exists(tmp):
            os.remove(tmp)
    return out
