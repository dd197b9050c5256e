"""Load and save pose models: zoo names, our own checkpoints, official mmcv-style checkpoints.

Every file is read with ``torch.load(..., weights_only=True)``: a checkpoint that carries Python
code (a pickle with arbitrary globals) is refused before anything in it runs.

Our format (written by :func:`save_model`)::

    {'format': 'sdpose-explorer', 'format_version': 1, 'model_type': 'tokenpose' | 'cnn',
     'config': asdict(ModelConfig), 'state_dict': {...}, **extra}

``extra`` must hold only plain values (numbers, strings, lists, dicts, tensors) so that it loads
with ``weights_only=True``.
"""
from __future__ import annotations

import os
import pickle
import pickletools
import re
import warnings
import zipfile
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
from torch import nn

from sdpose_core.errors import CheckpointError
from sdpose_core.models.config import ModelConfig
from sdpose_core.models.zoo import ZOO, build_model, bundled_checkpoint
from sdpose_core.real import is_real_model, load_real_model

from .atomic import atomic_torch_save
from .official import OfficialLayoutError, infer_config, is_official, map_state_dict, split_layout

FORMAT = "sdpose-explorer"
FORMAT_VERSION = 1
SHARED_BACKBONE_LEVELS = 3  # a backbone_file is found in the checkpoint's folder or 2 above it
_RESERVED = {"format", "format_version", "model_type", "config", "state_dict", "backbone_file"}


# ---- reading ---------------------------------------------------------------------------------
def read_checkpoint(path: str | os.PathLike, map_location: Any = "cpu") -> Any:
    """``torch.load(path, weights_only=True)`` with every failure turned into a CheckpointError."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such file")
    if path.stat().st_size == 0:
        raise CheckpointError(f"{path}: the file is empty")
    with open(path, "rb") as fh:
        head = fh.read(512)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "pickle protocol 4" chatter on refused files
            return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # UnpicklingError, truncated zip, EOF in a legacy pickle ...
        raise CheckpointError(f"{path}: {_explain(path, head, err)}") from None


def _explain(path: Path, head: bytes, err: Exception) -> str:
    text = str(err)
    blocked = re.search(r"GLOBAL ([\w.]+)", text)
    if isinstance(err, pickle.UnpicklingError) and (blocked or "Unsupported global" in text):
        name = blocked.group(1) if blocked else _first_sentence(err)
        if name.startswith("torch."):  # a cut-off name, or a torch object beyond plain tensors
            return (f"could not be loaded safely: the pickle references {name} (a truncated file, or "
                    f"a PyTorch object that weights_only loading does not allow)")
        return _refusal(name)
    if head.startswith(b"PK\x03\x04"):
        what = "truncated or corrupt" if not zipfile.is_zipfile(path) else "damaged or not a PyTorch checkpoint"
        return f"the checkpoint archive is {what} ({_first_sentence(err)})"
    if _looks_like_text(head):
        return "this is a text file, not a PyTorch checkpoint"
    if head[:1] == b"\x80":  # a pickle (legacy torch.save or plain pickle.dump)
        names = _pickle_globals(path)
        risky = [n for n in names if not n.startswith(("torch.", "collections.OrderedDict"))]
        if risky:
            return _refusal(", ".join(risky[:5]))
        return f"a truncated, damaged or unsupported pickle ({_first_sentence(err)})"
    return f"not a PyTorch checkpoint ({_first_sentence(err)})"


def _refusal(what: str) -> str:
    return (f"refused to load: the file pickles Python objects that could run code when loaded "
            f"({what}); weights_only loading allows only tensors and plain containers. "
            f"Only re-save files you trust, as plain state dicts.")


def _pickle_globals(path: Path) -> list[str]:
    """Globals a pickle would import, found by parsing its opcodes (nothing is executed)."""
    names: list[str] = []
    strings: list[str] = []
    try:
        with open(path, "rb") as fh:
            for op, arg, _ in pickletools.genops(fh):
                if isinstance(arg, str):
                    strings.append(arg)
                if op.name == "GLOBAL":
                    names.append(str(arg).replace(" ", "."))
                elif op.name == "STACK_GLOBAL" and len(strings) >= 2:
                    names.append(f"{strings[-2]}.{strings[-1]}")
    except Exception:  # a damaged stream: report what was seen before the damage
        pass
    return names


def _looks_like_text(head: bytes) -> bool:
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return all(c.isprintable() or c in "\r\n\t" for c in text)


def _first_sentence(err: Exception) -> str:
    text = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    return text.split(". ")[0][:200]


def check_finite(state_dict: dict[str, torch.Tensor], source: str) -> None:
    """Raise CheckpointError if any floating tensor holds NaN or Inf."""
    bad = [f"{k} ({int((~torch.isfinite(v)).sum())} non-finite)" for k, v in state_dict.items()
           if isinstance(v, torch.Tensor) and v.is_floating_point() and not torch.isfinite(v).all()]
    if bad:
        more = f" and {len(bad) - 10} more" if len(bad) > 10 else ""
        raise CheckpointError(f"{source}: weights contain NaN/Inf: {', '.join(bad[:10])}{more}")


def load_state_dict_strict(model: nn.Module, state_dict: dict[str, torch.Tensor], source: str) -> None:
    """Load every tensor or raise a CheckpointError listing missing, unexpected and wrong-shape keys."""
    own = model.state_dict()
    # BatchNorm step counters are unused in eval and absent from some older mmcv files: keep ours
    state_dict = {**{k: v for k, v in own.items() if k.endswith("num_batches_tracked")}, **state_dict}
    missing = [k for k in own if k not in state_dict]
    unexpected = [k for k in state_dict if k not in own]
    shapes = [f"{k}: checkpoint {tuple(state_dict[k].shape)} vs model {tuple(own[k].shape)}"
              for k in own if k in state_dict and tuple(state_dict[k].shape) != tuple(own[k].shape)]
    if missing or unexpected or shapes:
        parts = [f"{source}: the weights do not fit the architecture "
                 f"{getattr(getattr(model, 'config', None), 'name', type(model).__name__)!r}."]
        for title, items in (("missing keys", missing), ("unexpected keys", unexpected),
                             ("wrong-shape keys", shapes)):
            if items:
                more = f" ... and {len(items) - 20} more" if len(items) > 20 else ""
                parts.append(f"{title} ({len(items)}): {', '.join(items[:20])}{more}")
        raise CheckpointError("\n  ".join(parts))
    model.load_state_dict(state_dict, strict=True)


def load_body_strict(model: nn.Module, state_dict: dict[str, torch.Tensor], source: str,
                     head_prefix: str = "head.") -> None:
    """Every weight outside the head (``head_prefix``) from ``state_dict``, strict on those keys; the
    model keeps its own head. For a model of the same body with another head (a heatmap teacher
    warm-started from a SimCC one)."""
    own_head = {k: v for k, v in model.state_dict().items() if k.startswith(head_prefix)}
    body = {k: v for k, v in state_dict.items() if not k.startswith(head_prefix)}
    load_state_dict_strict(model, {**body, **own_head}, f"{source} (every weight but the head)")


# ---- building ----------------------------------------------------------------------------------
def _strip_module(state: dict) -> dict:
    if state and all(k.startswith("module.") for k in state):
        return {k[len("module."):]: v for k, v in state.items()}
    return state


def _from_ours(obj: dict, source: str, cycle_num: int | None) -> nn.Module:
    try:
        cfg = ModelConfig.from_dict(dict(obj["config"]))
    except (KeyError, TypeError, ValueError) as err:
        raise CheckpointError(f"{source}: bad model config in checkpoint: {err}") from None
    if cycle_num is not None:
        cfg = replace(cfg, cycle_num=int(cycle_num))
    state = obj.get("state_dict")
    if not isinstance(state, dict):
        raise CheckpointError(f"{source}: checkpoint has no 'state_dict' dict")
    if obj.get("backbone_file"):
        state = {**_shared_backbone(str(obj["backbone_file"]), source), **state}
    check_finite(state, source)
    model = build_model(cfg)
    load_state_dict_strict(model, state, source)
    return model


def _shared_backbone(name: str, source: str) -> dict[str, torch.Tensor]:
    """The ``backbone.*`` weights of a checkpoint that keeps them in a shared file (see
    :func:`save_model`'s ``backbone_file``): a bare file name, looked up in the checkpoint's folder
    and up to two enclosing ones (bundled snapshot histories share one backbone file), nowhere else."""
    if Path(name).name != name or name in ("", ".", ".."):
        raise CheckpointError(f"{source}: backbone_file must be a bare file name, got {name!r}")
    folders = list(Path(source).resolve().parents)[:SHARED_BACKBONE_LEVELS]
    path = next((folder / name for folder in folders if (folder / name).is_file()), None)
    if path is None:
        raise CheckpointError(f"{source}: its backbone file {name} is not in its folder or the "
                              f"{SHARED_BACKBONE_LEVELS - 1} enclosing ones (no such file)")
    return _backbone_weights(read_checkpoint(path), f"{source}: its backbone file {path}")


def _backbone_weights(obj: Any, where: str) -> dict[str, torch.Tensor]:
    """The ``backbone.*`` tensors of a loaded backbone-file object; CheckpointError naming ``where``."""
    state = obj.get("state_dict") if isinstance(obj, dict) else None
    backbone = {k: v for k, v in state.items() if k.startswith("backbone.")} if isinstance(state, dict) else {}
    if not backbone:
        raise CheckpointError(f"{where} has no backbone.* weights")
    return backbone


def _float16(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Floating-point tensors as float16 (they load back into float32 models); the rest unchanged."""
    return {k: v.half() if v.is_floating_point() else v for k, v in state.items()}


def read_backbone(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """The ``backbone.*`` weights of a shared backbone file (:func:`save_backbone`) or of any model
    checkpoint :func:`load_model` reads (``sdpose train --backbone`` accepts either)."""
    obj = read_checkpoint(path)
    if isinstance(obj, dict) and obj.get("kind") == "backbone":
        state = _backbone_weights(obj, f"{path}: this backbone file")
        check_finite(state, str(path))
        return state
    model = model_from_checkpoint(obj, str(path))
    if not hasattr(model, "backbone"):
        raise CheckpointError(f"{path}: this {model.config.name} model has no backbone to copy")
    return {f"backbone.{k}": v for k, v in model.backbone.state_dict().items()}


def save_backbone(model: nn.Module, path: str | os.PathLike, half: bool = True) -> Path:
    """Write only ``model.backbone`` (a file for ``backbone_file``; not loadable as a model)."""
    state = {f"backbone.{k}": v.detach().cpu() for k, v in model.backbone.state_dict().items()}
    if half:
        state = _float16(state)
    return atomic_torch_save({"format": FORMAT, "format_version": FORMAT_VERSION, "kind": "backbone",
                              "state_dict": state}, path)


def _from_official(state: dict, source: str, **kw) -> nn.Module:
    check_finite(state, source)
    try:
        layout, backbone, head = split_layout(state)
        cfg = infer_config(layout, backbone, head, zoo=ZOO, **kw)
    except (OfficialLayoutError, ValueError) as err:
        raise CheckpointError(f"{source}: {err}") from None
    model = build_model(cfg)
    load_state_dict_strict(model, map_state_dict(backbone, head), source)
    return model


def model_from_checkpoint(obj: Any, source: str, *, cycle_num: int | None = None, heads: int = 8,
                          input_size: tuple[int, int] | None = None, pos_embedding: str | None = None) -> nn.Module:
    """Build a model from an already loaded checkpoint object (ours, mmcv-style, or a bare state dict)."""
    if not isinstance(obj, dict):
        raise CheckpointError(f"{source}: expected a dict checkpoint, got {type(obj).__name__}")
    if obj.get("format") == FORMAT:
        return _from_ours(obj, source, cycle_num)
    state = obj.get("state_dict", obj)
    if not isinstance(state, dict) or not state or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f"{source}: no state dict of tensors found (keys: {list(obj)[:10]})")
    state = _strip_module(state)
    if is_official(state):
        return _from_official(state, source, heads=heads, cycle_num=cycle_num,
                              input_size=input_size, pos_embedding=pos_embedding)
    raise CheckpointError(f"{source}: unrecognised checkpoint layout (first keys: {list(state)[:8]}); "
                          "expected an sdpose-explorer checkpoint or an official SDPose / TokenPose / "
                          "DistilPose one (keys 'backbone.*' + 'keypoint_head.tokenpose.*')")


def load_model(name_or_path: str | os.PathLike, map_location: Any = "cpu", *, cycles: int | None = None,
               cycle_num: int | None = None, heads: int = 8, input_size: tuple[int, int] | None = None,
               pos_embedding: str | None = None) -> nn.Module:
    """A ready-to-run model (eval mode) from a zoo name or a checkpoint file.

    Args:
        name_or_path: a zoo name (``sdpose models``: the bundled checkpoint when present, else random
            init), a checkpoint written by :func:`save_model`, or an official mmcv-style checkpoint
            (``{'state_dict': {'backbone.*', 'keypoint_head.tokenpose.*'}}``) of SDPose, DistilPose
            or TokenPose with a StemNet backbone.
            Also ``"blazepose"`` (or a ``.tflite`` path) and RTMPose-layout ``.onnx`` files: models run
            by other runtimes (``sdpose_core.real``; the ``real`` extra).
        map_location: device for the weights (``torch.load`` argument).
        cycles / cycle_num: override the number of trained cycles (not stored in official files).
        heads: attention heads of an official checkpoint (not stored; official configs use 8).
        input_size: (H, W) of an official checkpoint when it cannot be read from the heatmap head.
        pos_embedding: override the position mode of an official checkpoint (default sine-full).

    Raises:
        CheckpointError: unreadable, unsafe, non-finite or mismatching checkpoints; a missing
            optional runtime or model file (``MissingExtraError``, naming the install command).
    """
    cycle_num = cycle_num if cycle_num is not None else cycles
    path = Path(name_or_path)
    if is_real_model(name_or_path):  # "blazepose", .onnx, .tflite
        return load_real_model(name_or_path)
    if path.is_file():
        model = model_from_checkpoint(read_checkpoint(path, map_location), str(path), cycle_num=cycle_num,
                                      heads=heads, input_size=input_size, pos_embedding=pos_embedding)
    elif str(name_or_path) in ZOO:
        name = str(name_or_path)
        ckpt = bundled_checkpoint(name)
        if ckpt is not None:
            return load_model(ckpt, map_location, cycle_num=cycle_num)
        model = build_model(name, **({"cycle_num": int(cycle_num)} if cycle_num is not None else {}))
    else:
        raise CheckpointError(f"{name_or_path}: no such file, and not a zoo model ({', '.join(ZOO)})")
    if isinstance(map_location, (str, torch.device)):
        model = model.to(map_location)
    return model.eval()


# ---- writing -----------------------------------------------------------------------------------
def save_model(model: nn.Module, path: str | os.PathLike, *, half: bool = False,
               backbone_file: str | None = None, **extra: Any) -> Path:
    """Write an sdpose-explorer checkpoint atomically (temp file in the same folder + os.replace).

    Args:
        model: a model built from a ModelConfig (has ``.config``).
        path: destination file.
        half: store floating-point tensors as float16 (they load back into float32 models).
        backbone_file: leave out ``backbone.*`` and read it at load time from this checkpoint in the
            same folder (bundled students share one frozen pretrained backbone).
        extra: plain metadata to store beside the weights (epoch, metrics, history ...).
    """
    cfg = getattr(model, "config", None)
    if not isinstance(cfg, ModelConfig):
        raise TypeError("save_model needs a model built from a ModelConfig (model.config)")
    clash = _RESERVED & set(extra)
    if clash:
        raise ValueError(f"extra keys {sorted(clash)} are reserved")
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    if half:
        state = _float16(state)
    if backbone_file:
        if Path(backbone_file).name != backbone_file:
            raise ValueError(f"backbone_file must be a bare file name, got {backbone_file!r}")
        state = {k: v for k, v in state.items() if not k.startswith("backbone.")}
        extra["backbone_file"] = backbone_file
    payload = {"format": FORMAT, "format_version": FORMAT_VERSION, "model_type": cfg.model_type,
               "config": cfg.to_dict(), "state_dict": state, **extra}
    return atomic_torch_save(payload, path)
