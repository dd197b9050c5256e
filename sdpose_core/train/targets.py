"""Per-sample training targets from a codec (the dataset's ``target_fn``)."""
from __future__ import annotations

import numpy as np

from sdpose_core.data.codecs import Codec


class CodecTargets:
    """``fn(keypoints (K, 2), visible (K,)) -> dict`` for ``CocoKeypointDataset(target_fn=...)``.

    The codec's named targets for one sample: heatmap codec -> ``heatmaps`` (K, H, W),
    ``target_weight`` (K,); regression -> ``coords`` (K, 2), ``coord_weight`` (K, 2); SimCC ->
    ``simcc_x``, ``simcc_y``, ``target_weight``. A class (not a closure) so that DataLoader workers
    can pickle it.
    """

    def __init__(self, codec: Codec) -> None:
        self.codec = codec

    def __call__(self, keypoints: np.ndarray, visible: np.ndarray) -> dict[str, np.ndarray]:
        kpts, vis = keypoints[None], np.clip(visible, 0.0, 1.0)[None]  # (1, K, 2), (1, K)
        return {name: target[0] for name, target in self.codec.encode(kpts, vis).items()}
