"""Per-sample training targets from a codec (the dataset's ``target_fn``)."""
from __future__ import annotations

import numpy as np

from sdpose_core.data.codecs import MSRAHeatmap, RegressionLabel, SimCCLabel


class CodecTargets:
    """``fn(keypoints (K, 2), visible (K,)) -> dict`` for ``CocoKeypointDataset(target_fn=...)``.

    Keys: heatmap codec -> ``heatmaps`` (K, H, W), ``target_weight`` (K,); regression ->
    ``coords`` (K, 2), ``coord_weight`` (K, 2); SimCC -> ``simcc_x``, ``simcc_y``, ``target_weight``.
    A class (not a closure) so that DataLoader workers can pickle it.
    """

    def __init__(self, codec: MSRAHeatmap | RegressionLabel | SimCCLabel) -> None:
        self.codec = codec

    def __call__(self, keypoints: np.ndarray, visible: np.ndarray) -> dict[str, np.ndarray]:
        kpts, vis = keypoints[None], np.clip(visible, 0.0, 1.0)[None]  # (1, K, 2), (1, K)
        if isinstance(self.codec, MSRAHeatmap):
            heatmaps, weight = self.codec.encode(kpts, vis)
            return {"heatmaps": heatmaps[0], "target_weight": weight[0]}
        if isinstance(self.codec, RegressionLabel):
            coords, weight = self.codec.encode(kpts, vis)
            return {"coords": coords[0], "coord_weight": weight[0]}
        labels_x, labels_y, weight = self.codec.encode(kpts, vis)
        return {"simcc_x": labels_x[0], "simcc_y": labels_y[0], "target_weight": weight[0]}
