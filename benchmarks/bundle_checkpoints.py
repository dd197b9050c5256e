"""Copy a reproduction run into data_samples/checkpoints (what the explorer, the notebooks and
``sdpose models`` use), small: float16, one shared frozen backbone file.

    python benchmarks/bundle_checkpoints.py --runs runs/reproduce --seed 0

Writes ``backbone.pt`` (the pretrained backbone every student reads frozen), the two teachers
(trained once under ``RUNS/foundation``; they fine-tuned the backbone, so they carry their own),
one ``<zoo name>.pt`` per explorer role and the other students of seed ``--seed``, a snapshot
history per staged run (``<run>/history`` + ``metrics.jsonl``; DWPose stage 1 then stage 2 in one
run), ``manifest.json`` and ``data_samples/MODELS.md``.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

import torch

from sdpose_core.interpret.dynamics import ap_curve
from sdpose_core.io.checkpoint import (load_model, model_from_checkpoint, read_backbone, read_checkpoint,
                                     save_backbone, save_model)
from sdpose_core.train.run_dir import RunDir

ROOT = Path(__file__).resolve().parents[1]
# zoo-name file (explorer roles, notebooks) <- reproduction job
ROLE_FILES = {"synth-teacher": "teacher", "synth-student": "sdpose", "synth-regression": "distilpose",
              "synth-simcc": "dwpose-s2", "synth-simcc-teacher": "simcc-teacher"}
# the other students of the comparison, final weights only (file <job>.pt; sizes keep them to this)
STUDENT_FILES = ("baseline", "regression", "simcc")
# bundled snapshot histories: run name -> the jobs whose epochs it strings together
STAGED_RUNS = {"dwpose": ("dwpose-s1", "dwpose-s2"), "sdpose": ("sdpose",), "distilpose": ("distilpose",)}
STAGE_NAMES = {"dwpose-s1": "stage 1", "dwpose-s2": "stage 2"}


TRAINED_ON = "SynthPose easy + medium (128x96 crops)"
MAX_SNAPSHOTS = 5  # per history: around the jump, the first and the last two (size budget)


def bundle_role(job_dir: Path, out: Path, name: str, shared: dict) -> Path:
    """A job's final weights as ``out/<name>.pt``: float16, reading ``backbone.pt`` when its backbone
    is the shared frozen one, else (a fine-tuned teacher) carrying its own."""
    model = load_model(job_dir / "model.pt")
    own = {f"backbone.{k}": v for k, v in model.backbone.state_dict().items()}
    same = own.keys() == shared.keys() and all(torch.equal(own[k].half(), shared[k].half()) for k in own)
    return save_model(model, out / f"{name}.pt", half=True, backbone_file="backbone.pt" if same else None,
                      recipe=_recipe(job_dir), source=job_dir.name, trained_on=TRAINED_ON)


# snapshots kept per job of a staged run (DWPose: both sides of stage 1's jump, its first and last
# epochs, the end of stage 2)
KEEP = {"dwpose-s1": 4, "dwpose-s2": 1}


def pick_snapshots(snaps: list[Path], curve: list[float], keep: int = MAX_SNAPSHOTS) -> list[Path]:
    """At most ``keep`` snapshots chosen from the run's val-AP ``curve`` (one value per epoch, as
    ``snaps``), in this priority: the epochs either side of the largest one-epoch gain (the jump),
    the last epoch, the first, the one before the last, then the middle of the widest gap left, so
    the history shows before, during and after the jump wherever in the run it came (a jump
    during epoch 1 itself is invisible: there is no evaluation before training). ``keep < 3``:
    the last ``keep``.

    Args:
        snaps: the run's snapshot files, epoch order.
        curve: val AP after each epoch (``metrics.jsonl``), the same length as ``snaps``.
        keep: how many to bundle (size budget: ``MAX_SNAPSHOTS``, or ``KEEP`` per job).
    """
    if len(snaps) != len(curve):
        raise ValueError(f"{len(snaps)} snapshots but {len(curve)} epochs of metrics")
    if len(snaps) <= keep:
        return snaps
    if keep < 3:
        return snaps[len(snaps) - keep:]
    last = len(snaps) - 1
    jump = max(range(1, len(curve)), key=lambda i: curve[i] - curve[i - 1])
    chosen = list(dict.fromkeys([jump - 1, jump, last, 0, last - 1]))[:keep]  # in order of priority
    while len(chosen) < keep:  # fill the widest gap between chosen epochs with its middle
        ordered = sorted(chosen)
        gap_start, gap_end = max(zip(ordered, ordered[1:]), key=lambda pair: pair[1] - pair[0])
        chosen.append((gap_start + gap_end) // 2)
    return [snaps[i] for i in sorted(chosen)]


def _recipe(job_dir: Path) -> str:
    return json.loads((job_dir / "config.json").read_text())["recipe"]


def bundle_run(job_dirs: list[Path], out: Path) -> list[Path]:
    """Snapshots of one or more consecutive runs, renumbered, with their metrics under ``stage``."""
    run = RunDir(out)  # a fresh folder: bundle() removes an older copy first
    records, written, offset = [], [], 0
    for job_dir in job_dirs:
        recipe, stage = _recipe(job_dir), STAGE_NAMES.get(job_dir.name, "")
        snaps = RunDir(job_dir).snapshots()
        chosen = pick_snapshots(snaps, list(ap_curve(job_dir)[1]), KEEP.get(job_dir.name, MAX_SNAPSHOTS))
        for path in chosen:
            obj = read_checkpoint(path)
            epoch = int(path.stem.split("_")[-1])
            label = f"{stage} epoch {epoch + 1}".strip()
            model = model_from_checkpoint(obj, str(path))
            written.append(save_model(model, run.snapshot_path(offset + epoch), half=True,
                                      backbone_file="backbone.pt", recipe=recipe, label=label,
                                      epoch=offset + epoch, metrics=obj.get("metrics", {})))
        for record in RunDir(job_dir).read_metrics():  # every epoch's metrics, snapshots or not
            records.append({**record, "epoch": offset + record["epoch"], "stage": stage or recipe})
        offset += len(snaps)
    run.metrics_path.write_text("".join(json.dumps(r, sort_keys=True) + "\n" for r in records))
    run.write_config({"bundled_from": [str(p) for p in job_dirs]})
    return written


def write_models_md(manifest: list[dict], out: Path, command: str, doc: str = "RESULTS.md") -> None:
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file()) / 1e6
    lines = ["# Bundled models", "",
             f"Made by `{command}` from the reproduction run described in "
             f"[docs/{doc}](../docs/{doc}) (the backbone and teachers it trained once, one seed of "
             f"its students); float16. Trained on {TRAINED_ON} only: on real photos they are out of their "
             f"world. Every student reads the shared frozen backbone in `checkpoints/backbone.pt`; the "
             f"teachers fine-tuned theirs and carry it. {size:.1f} MB in all.", "",
             "AP is COCO keypoint AP ×100: on the validation set the run watched, then on held-out easy and "
             "medium sets generated with seeds nothing else uses.", "",
             "| file | what | recipe | AP val | AP held-out easy | AP held-out medium | snapshots |",
             "|---|---|---|---:|---:|---:|---:|"]
    for row in manifest:
        snaps = row.get("snapshots") or (f"see `{row['history']}`" if row.get("history") else "–")
        held = [f"{100 * row[k]:.1f}" if row.get(k) is not None else "–" for k in ("AP_easy", "AP_medium")]
        lines.append(f"| `{row['path']}` | {row['what']} | {row['recipe']} | {row['AP'] * 100:.1f} | "
                     f"{held[0]} | {held[1]} | {snaps} |")
    (out.parent / "MODELS.md").write_text("\n".join(lines) + "\n")


def _metrics(job_dir: Path, results: dict) -> dict:
    """Val AP and PCK@0.2 of a finished run's last epoch, and its held-out APs from results.json."""
    last = RunDir(job_dir).read_metrics()[-1]
    row = results.get(job_dir.name, {})
    return {"AP": last["AP"], "PCK": last["PCK@0.2"], "AP_easy": row.get("heldout-easy"),
            "AP_medium": row.get("heldout-medium"), "trained_on": TRAINED_ON}


def bundle(runs: Path, seed: int, out: Path, command: str, doc: str = "RESULTS.md") -> list[dict]:
    saved = json.loads((runs / "results.json").read_text()) if (runs / "results.json").is_file() else {}
    rows = {**saved.get("results", {}).get("foundation", {}), **saved.get("results", {}).get(str(seed), {})}
    # a teacher's later stage (foundation/stage2, stage3) replaces its earlier ones
    folders = (runs / "foundation" / "seed0", runs / "foundation" / "stage2" / "seed0",
               runs / "foundation" / "stage3" / "seed0", runs / f"seed{seed}")
    job_dirs = {job.name: job for folder in folders if folder.is_dir() for job in folder.iterdir()
                if (job / "model.pt").is_file()}
    out.mkdir(parents=True, exist_ok=True)
    if "backbone" in job_dirs:  # else the run read the bundled backbone: it stays as it is
        save_backbone(load_model(job_dirs["backbone"] / "model.pt"), out / "backbone.pt")
    shared = read_backbone(out / "backbone.pt")
    manifest = []
    for name, job in ROLE_FILES.items():
        path = bundle_role(job_dirs[job], out, name, shared)
        history = next((f"{out.name}/{run}" for run, jobs in STAGED_RUNS.items() if jobs[-1] == job), None)
        manifest.append({"name": name, "what": f"`{name}` weights (what `load_model('{name}')` and the explorer "
                         f"load), from the `{job}` run", "recipe": _recipe(job_dirs[job]),
                         "path": str(path.relative_to(out.parent)), "history": history,
                         **_metrics(job_dirs[job], rows)})
    for job in STUDENT_FILES:
        path = bundle_role(job_dirs[job], out, job, shared)
        manifest.append({"name": job, "what": f"the `{job}` student's final weights (load with its path)",
                         "recipe": _recipe(job_dirs[job]), "path": str(path.relative_to(out.parent)),
                         **_metrics(job_dirs[job], rows)})
    for run_name, jobs in STAGED_RUNS.items():
        if (out / run_name).exists():
            shutil.rmtree(out / run_name)
        snaps = bundle_run([job_dirs[job] for job in jobs], out / run_name)
        manifest.append({"name": run_name, "what": "snapshot history (Distillation stages tab)",
                         "recipe": " → ".join(jobs), "path": str((out / run_name).relative_to(out.parent)),
                         "snapshots": len(snaps), **_metrics(job_dirs[jobs[-1]], rows)})
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1))
    write_models_md(manifest, out, command, doc)
    return manifest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=Path, default=ROOT / "runs" / "reproduce")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=ROOT / "data_samples" / "checkpoints")
    parser.add_argument("--doc", default="RESULTS.md", help="the report in docs/ that describes --runs")
    args = parser.parse_args(argv)
    command = "python benchmarks/bundle_checkpoints.py " + " ".join(argv if argv is not None else sys.argv[1:])
    for row in bundle(args.runs, args.seed, args.out, command.strip(), args.doc):
        print(f"{row['path']:<40} {row['recipe']:<24} AP {100 * row['AP']:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
