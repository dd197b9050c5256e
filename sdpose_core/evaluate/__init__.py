"""Evaluation: COCO OKS AP/AR (pycocotools), OKS, PCK."""
from sdpose_core.evaluate.coco_eval import (
    METRIC_NAMES,
    coco_keypoint_eval,
    coco_keypoint_eval_arrays,
    oks,
    results_from_arrays,
)
from sdpose_core.evaluate.pck import PCKResult, pck

__all__ = [
    "METRIC_NAMES", "coco_keypoint_eval", "coco_keypoint_eval_arrays", "oks", "results_from_arrays",
    "PCKResult", "pck",
]
