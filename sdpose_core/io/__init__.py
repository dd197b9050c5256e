"""sdpose_core.io: checkpoint loading (ours and official mmpose layouts) and saving."""
from .checkpoint import CheckpointError, load_model, read_checkpoint, save_model

__all__ = ["CheckpointError", "load_model", "read_checkpoint", "save_model"]
