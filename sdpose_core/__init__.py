"""sdpose_core: knowledge distillation for human pose estimation, small enough for a laptop CPU."""
from __future__ import annotations

__version__ = "0.1.0"


def load_model(name_or_path, **kwargs):
    """Load a model by zoo name or checkpoint path (ours or official mmcv-style).

    See :func:`sdpose_core.io.checkpoint.load_model`.
    """
    from sdpose_core.io.checkpoint import load_model as _load_model

    return _load_model(name_or_path, **kwargs)


__all__ = ["load_model", "__version__"]
