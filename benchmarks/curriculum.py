"""Data of the teachers' second stage: the benchmark's training set plus fresh, mostly medium crops.

The 16-epoch teachers overfit their 16 000 crops (heatmap teacher, AP on 300 of its own training
medium crops 72.5, on 300 held-out medium crops 57.8; easy 88.2 vs 84.3), so their second stage
(``reproduce.py``'s ``STAGE2`` jobs, ``curriculum_teachers.py``) warm-starts them on three times
the data, two thirds of it medium::

    the benchmark's training set (16 000, easy + medium, seed 1301)
    + 16 000 medium crops (seed 1311) + 16 000 easy + medium crops (seed 1312)
"""
from __future__ import annotations

import json
import os
from pathlib import Path

from sdpose_core.data.synthpose import generate_dataset

EXTRA_SETS = {"medium-1311": (1311, "medium"), "easy+medium-1312": (1312, "easy+medium")}


def merge_coco_folders(out: Path, folders: list[Path]) -> Path:
    """One COCO keypoints folder whose images are symlinks into ``folders`` (ids renumbered)."""
    if (out / "annotations.json").is_file():
        return out
    (out / "images").mkdir(parents=True, exist_ok=True)
    images, annotations, categories = [], [], None
    for k, folder in enumerate(folders):
        data = json.loads((folder / "annotations.json").read_text())
        categories = categories or data["categories"]
        new_id = {}
        for image in data["images"]:
            new_id[image["id"]] = len(images) + 1
            name = f"{k}_{image['file_name']}"
            link = out / "images" / name
            if not link.is_symlink():
                link.symlink_to((folder / "images" / image["file_name"]).resolve())
            images.append({**image, "id": new_id[image["id"]], "file_name": name})
        for ann in data["annotations"]:
            annotations.append({**ann, "id": len(annotations) + 1, "image_id": new_id[ann["image_id"]]})
    merged = {"info": {"description": "merged: " + ", ".join(str(f) for f in folders)}, "images": images,
              "annotations": annotations, "categories": categories}
    tmp = out / "annotations.json.tmp"
    tmp.write_text(json.dumps(merged))
    os.replace(tmp, out / "annotations.json")  # written last: a half-made folder is redone
    return out


def stage_two_data(out: Path, train_folder: Path, num: int) -> Path:
    """``out/stage2``: ``train_folder`` plus ``num`` crops of each EXTRA_SETS entry (generated if missing)."""
    extra = []
    for name, (seed, difficulty) in EXTRA_SETS.items():
        folder = out / name
        if not (folder / "annotations.json").is_file():
            generate_dataset(folder, num=num, seed=seed, difficulty=difficulty, progress=False)
        extra.append(folder)
    return merge_coco_folders(out / "stage2", [train_folder, *extra])
