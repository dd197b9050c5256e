"""Errors every part of sdpose_core may raise (imports nothing of sdpose_core)."""
from __future__ import annotations


class CheckpointError(ValueError):
    """A checkpoint could not be used; the message names the file and the problem."""
