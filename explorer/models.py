"""Which models the explorer shows, where they came from, and a small cache of their outputs.

No model math here: loading goes through ``sdpose_core.io.checkpoint.load_model`` and inference
through ``sdpose_core.evaluate.inference.run_pose``.
"""
from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch
from torch import nn

from sdpose_core.evaluate.inference import PoseResult, run_pose
from sdpose_core.io.checkpoint import CheckpointError, load_model
from sdpose_core.models.zoo import CHECKPOINT_DIR, build_model, bundled_manifest

from .provenance import UNKNOWN, Provenance, domain_note, is_synthpose_crop, provenance_of

# role -> (zoo name, what it is)
ROLES: dict[str, tuple[str, str]] = {
    "teacher": ("synth-teacher", "heatmap teacher (TokenPose)"),
    "student": ("synth-student", "SDPose student (2-cycle MCT)"),
    "distilpose": ("synth-regression", "DistilPose student (regression)"),
    "simcc": ("synth-simcc", "DWPose / SimCC student"),
}
OPTIONAL_ROLES = ("simcc",)  # shown only when a checkpoint exists
REAL_MODELS = ("blazepose",)  # the `real` extra (sdpose install-blazepose), listed when installed
AUTO = "auto"  # teacher choice: ModelSet.teacher_for the image
SNAPSHOT_PREFIX = "snapshot:"  # role keys of snapshot models (explorer.snapshots.SnapshotModels.key)


@dataclass
class LoadedModel:
    """A model ready for inference plus how to label it in the UI.

    ``note`` is what the models panel shows beside it: why it is untrained, or its provenance."""

    role: str
    model: nn.Module
    source: str
    trained: bool
    note: str = ""
    provenance: Provenance = UNKNOWN

    @property
    def label(self) -> str:
        name = self.model.config.name
        return f"{self.role}: {name}" + ("" if self.trained else " (untrained)")


def _untrained(role: str, zoo_name: str, note: str) -> LoadedModel:
    torch.manual_seed(0)  # the same random weights every start
    return LoadedModel(role, build_model(zoo_name).eval(), "random init", False, note)


def loaded(role: str, model: nn.Module, source: str) -> LoadedModel:
    """A trained model with its provenance (``explorer.provenance``) as its note."""
    prov = provenance_of(model, source)
    return LoadedModel(role, model, source, True, prov.text(), prov)


def model_file(path: str | Path) -> Path:
    """An explicit ``--teacher`` / ``--student`` ... value as a file: a run folder (``sdpose train``,
    ``sdpose distill-folder``) stands for its ``model.pt``."""
    path = Path(path)
    return path / "model.pt" if path.is_dir() else path


def load_role(role: str, path: str | Path | None, checkpoint_dir: Path, strict: bool = False) -> LoadedModel | None:
    """Load one role from an explicit file, else ``<checkpoint_dir>/<zoo>.pt``, else random init.

    ``path`` may be ``blazepose``, any file ``load_model`` reads (our checkpoints, official SDPose /
    DistilPose / TokenPose ``.pth``, RTMPose / DWPose ``.onnx``) or a run folder. With ``strict``
    an explicit path that does not load raises its CheckpointError (the message names the file and
    what is wrong) instead of falling back to random weights.
    """
    zoo_name = ROLES[role][0]
    candidate = model_file(path) if path else checkpoint_dir / f"{zoo_name}.pt"
    if str(path) == "blazepose":  # the offline real-photo teacher (`real` extra), by name
        candidate = Path("blazepose")
    elif not candidate.is_file():
        if strict and path:
            raise CheckpointError(f"--{role} {path}: no such file" + (
                " (a folder without model.pt: not a finished run)" if Path(path).is_dir() else ""))
        if role in OPTIONAL_ROLES and not path:
            return None
        return _untrained(role, zoo_name, f"no checkpoint at {candidate}")
    try:
        return loaded(role, load_model(candidate), str(candidate))
    except CheckpointError as err:
        if strict and path:
            raise CheckpointError(f"--{role} {err}") from None
        return _untrained(role, zoo_name, f"could not load {candidate}: {err}")


def bundled_runs(folder: Path) -> list[Path]:
    """The snapshot histories bundled in ``folder`` (sub-folders with a ``history/``), in the
    order of its manifest.json when there is one (DWPose's two stages first), else by name."""
    runs = sorted(p for p in folder.glob("*") if (p / "history").is_dir()) if folder.is_dir() else []
    order = [Path(row.get("path", "")).name for row in bundled_manifest(folder)]
    return sorted(runs, key=lambda p: order.index(p.name) if p.name in order else len(order))


def load_extras(folder: Path) -> dict[str, LoadedModel]:
    """BlazePose when the `real` extra and its file are installed, and every ``folder/*.onnx``
    (RTMPose / DWPose layout) as ``onnx:<name>``; what cannot load is left out (no network)."""
    extras = {}
    for name in REAL_MODELS:
        try:
            extras[name] = loaded(name, load_model(name), name)
        except CheckpointError:
            pass
    for onnx_file in sorted(folder.glob("*.onnx")):
        try:
            extras[f"onnx:{onnx_file.stem}"] = loaded("onnx", load_model(onnx_file), str(onnx_file))
        except CheckpointError:
            pass
    return extras


class ModelSet:
    """The explorer's models by role, and an LRU cache of their results per image + box."""

    def __init__(self, models: dict[str, LoadedModel], cache_size: int = 24,
                 extras: dict[str, LoadedModel] | None = None):
        self.models = models
        self.extras = extras or {}  # models of other runtimes (BlazePose, ONNX), offered beside the roles
        self.runs: list[Path] = []  # training run folders offered by the stages tab
        self.explicit: set[str] = set()  # roles given on the command line (--teacher ...)
        self._cache: OrderedDict[tuple, PoseResult] = OrderedDict()
        self._memo: OrderedDict[tuple, Any] = OrderedDict()  # derived results (attributions, figures)
        self._cache_size = cache_size
        self._lock = threading.Lock()
        from .snapshots import SnapshotModels  # (it imports LoadedModel from here)

        self.snapshots = SnapshotModels(lambda: self.runs)  # snapshot models by (run, snapshot), LRU

    @classmethod
    def load(cls, checkpoint_dir: str | Path | None = None, teacher: str | None = None,
             student: str | None = None, distilpose: str | None = None, simcc: str | None = None,
             warmup: bool = True, strict: bool = False) -> "ModelSet":
        """The roles from explicit files (see ``load_role``; ``strict``: a file that does not load
        raises) or ``checkpoint_dir``, plus BlazePose and the folder's ONNX files when they load."""
        folder = Path(checkpoint_dir) if checkpoint_dir else CHECKPOINT_DIR
        paths = {"teacher": teacher, "student": student, "distilpose": distilpose, "simcc": simcc}
        models = {r: m for r in ROLES if (m := load_role(r, paths[r], folder, strict)) is not None}
        out = cls(models, extras=load_extras(folder))
        out.runs = bundled_runs(folder)
        out.explicit = {r for r, p in paths.items() if p}
        if warmup:  # the first forward of a model is slow; keep it out of the latency shown
            blank = np.zeros((64, 48, 3), np.uint8)
            for m in models.values():
                run_pose(m.model, blank)
        return out

    def roles(self, students_only: bool = False) -> list[str]:
        return [r for r in [*self.models, *self.extras] if not (students_only and r == "teacher")]

    def get(self, role: str) -> LoadedModel:
        if role.startswith(SNAPSHOT_PREFIX):
            return self.snapshots.from_key(role)
        if role not in self.models and role not in self.extras:
            raise ValueError(f"no {role!r} model loaded (have: {', '.join([*self.models, *self.extras])})")
        return self.models[role] if role in self.models else self.extras[role]

    def any_untrained(self) -> bool:
        return any(not m.trained for m in self.models.values())

    def teacher_for(self, image: np.ndarray) -> str:
        """The default teacher role for ``image``: BlazePose (when installed) for anything but a
        bundled SynthPose crop, unless a teacher was given explicitly (``--teacher``)."""
        if "teacher" not in self.explicit and "blazepose" in self.roles() and not is_synthpose_crop(image):
            return "blazepose"
        return "teacher"

    def teacher_choices(self) -> list[tuple[str, str]]:
        """(label, value) of the first teacher choices: ``auto`` first when it can pick BlazePose."""
        if "teacher" not in self.explicit and "blazepose" in self.roles():
            return [("auto: BlazePose on photos, teacher on SynthPose crops", AUTO), ("teacher", "teacher")]
        return [("teacher", "teacher")]

    def result_notes(self, roles: Sequence[str], image: np.ndarray) -> list[str]:
        """Markdown lines for a result: what each model was trained on and how well, and a warning
        for each SynthPose-only model run on an image that is not a SynthPose crop."""
        lines, warnings = [], []
        for role in dict.fromkeys(roles):
            m = self.get(role)
            what = m.provenance.text() or ("random weights" if not m.trained else "training data unknown "
                                           "(no manifest or run folder beside the file)")
            lines.append(f"- **{m.label}**: {what}")
            warnings += [note] if (note := domain_note(m.label, m.provenance, image)) else []
        return [*warnings, *([""] if warnings else []), *lines, ""]

    def result(self, role: str, image: np.ndarray, bbox: Sequence[float] | None,
               attention: bool = False) -> PoseResult:
        """``run_pose`` of one role, cached on (role, image bytes, box, attention).

        With ``attention`` every cycle runs and every layer's attention is kept.
        """
        key = (role, image_key(image), None if bbox is None else tuple(float(v) for v in bbox), attention)
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
        model = self.get(role).model
        cycles = model.config.cycle_num if attention and model.config.model_type != "cnn" else None
        res = run_pose(model, image, bbox, cycles=cycles,
                       return_attention=attention and model.config.model_type != "cnn")
        with self._lock:
            self._cache[key] = res
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return res


    def memo(self, key: tuple, compute: Callable[[], Any]) -> Any:
        """``compute()``, cached under ``key`` (an LRU of 2 × cache_size entries) for results derived
        from a model and an image that do not change with the other settings (a teacher's attribution
        while the student's snapshot changes, the teacher's heatmap grid)."""
        with self._lock:
            if key in self._memo:
                self._memo.move_to_end(key)
                return self._memo[key]
        value = compute()
        with self._lock:
            self._memo[key] = value
            while len(self._memo) > 2 * self._cache_size:
                self._memo.popitem(last=False)
        return value


def image_key(image: np.ndarray) -> str:
    """A content hash of an image array (shape + bytes)."""
    h = hashlib.blake2b(digest_size=16)
    h.update(str(image.shape).encode())
    h.update(np.ascontiguousarray(image).tobytes())
    return h.hexdigest()
