"""Copy one seed of a reproduction run into data_samples/checkpoints (what the explorer, the
notebooks and ``sdpose models`` use), small: float16, one shared frozen backbone file.

    python benchmarks/bundle_checkpoints.py --runs runs/reproduce --seed 0

Writes ``backbone.pt`` (the pretrained, frozen backbone every token model shares), one
``<zoo name>.pt`` per explorer role, a snapshot history per staged run (``<run>/history`` +
``metrics.jsonl``; DWPose stage 1 then stage 2 in one run), ``manifest.json`` and
``data_samples/MODELS.md``.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

from sdpose_core.io.checkpoint import load_model, model_from_checkpoint, read_checkpoint, save_backbone, save_model
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


def bundle_role(job_dir: Path, out: Path, name: str) -> Path:
    return save_model(load_model(job_dir / "model.pt"), out / f"{name}.pt", half=True,
                      backbone_file="backbone.pt", recipe=_recipe(job_dir), source=job_dir.name)


def _recipe(job_dir: Path) -> str:
    return json.loads((job_dir / "config.json").read_text())["recipe"]


def bundle_run(job_dirs: list[Path], out: Path) -> list[Path]:
    """Snapshots of one or more consecutive runs, renumbered, with their metrics under ``stage``."""
    run = RunDir(out)  # a fresh folder: bundle() removes an older copy first
    records, written, offset = [], [], 0
    for job_dir in job_dirs:
        recipe, stage = _recipe(job_dir), STAGE_NAMES.get(job_dir.name, "")
        snaps = RunDir(job_dir).snapshots()
        for path in snaps:
            obj = read_checkpoint(path)
            epoch = int(path.stem.split("_")[-1])
            label = f"{stage} epoch {epoch + 1}".strip()
            model = model_from_checkpoint(obj, str(path))
            written.append(save_model(model, run.snapshot_path(offset + epoch), half=True,
                                      backbone_file="backbone.pt", recipe=recipe, label=label,
                                      epoch=offset + epoch, metrics=obj.get("metrics", {})))
        for record in RunDir(job_dir).read_metrics():
            records.append({**record, "epoch": offset + record["epoch"], "stage": stage or recipe})
        offset += len(snaps)
    run.metrics_path.write_text("".join(json.dumps(r, sort_keys=True) + "\n" for r in records))
    run.write_config({"bundled_from": [str(p) for p in job_dirs]})
    return written


def write_models_md(manifest: list[dict], out: Path, command: str) -> None:
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file()) / 1e6
    lines = ["# Bundled models", "",
             f"Made by `{command}` from the reproduction run described in "
             "[docs/RESULTS.md](../docs/RESULTS.md) (one seed of it); float16, every token model "
             f"reading the shared frozen backbone in `checkpoints/backbone.pt`. {size:.1f} MB in all.", "",
             "| file | what | recipe | AP (SynthPose val) | PCK@0.2 | snapshots |", "|---|---|---|---:|---:|---:|"]
    for row in manifest:
        snaps = row.get("snapshots") or (f"see `{row['history']}`" if row.get("history") else "–")
        lines.append(f"| `{row['path']}` | {row['what']} | {row['recipe']} | {row['AP'] * 100:.1f} | "
                     f"{row['PCK']:.3f} | {snaps} |")
    (out.parent / "MODELS.md").write_text("\n".join(lines) + "\n")


def _final_metrics(job_dir: Path) -> dict:
    """AP and PCK@0.2 of a finished run's last epoch (its metrics.jsonl)."""
    last = RunDir(job_dir).read_metrics()[-1]
    return {"AP": last["AP"], "PCK": last["PCK@0.2"]}


def bundle(runs: Path, seed: int, out: Path, command: str) -> list[dict]:
    seed_dir = runs / f"seed{seed}"
    results = {job.name: _final_metrics(job) for job in seed_dir.iterdir() if (job / "model.pt").is_file()}
    out.mkdir(parents=True, exist_ok=True)
    save_backbone(load_model(runs / "backbone" / "model.pt"), out / "backbone.pt")
    manifest = []
    for name, job in ROLE_FILES.items():
        path = bundle_role(seed_dir / job, out, name)
        history = next((f"{out.name}/{run}" for run, jobs in STAGED_RUNS.items() if jobs[-1] == job), None)
        manifest.append({"name": name, "what": f"`{name}` weights (what `load_model('{name}')` and the explorer load), from the `{job}` run", "recipe": _recipe(seed_dir / job),
                         "path": str(path.relative_to(out.parent)), "history": history,
                         "AP": results[job]["AP"], "PCK": results[job]["PCK"]})
    for job in STUDENT_FILES:
        path = bundle_role(seed_dir / job, out, job)
        manifest.append({"name": job, "what": f"the `{job}` student's final weights (load with its path)",
                         "recipe": _recipe(seed_dir / job), "path": str(path.relative_to(out.parent)),
                         "AP": results[job]["AP"], "PCK": results[job]["PCK"]})
    for run_name, jobs in STAGED_RUNS.items():
        if (out / run_name).exists():
            shutil.rmtree(out / run_name)
        snaps = bundle_run([seed_dir / job for job in jobs], out / run_name)
        last = results[jobs[-1]]
        manifest.append({"name": run_name, "what": "snapshot history (Distillation stages tab)",
                         "recipe": " → ".join(jobs), "path": str((out / run_name).relative_to(out.parent)),
                         "AP": last["AP"], "PCK": last["PCK"], "snapshots": len(snaps)})
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1))
    write_models_md(manifest, out, command)
    return manifest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=Path, default=ROOT / "runs" / "reproduce")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=ROOT / "data_samples" / "checkpoints")
    args = parser.parse_args(argv)
    command = "python benchmarks/bundle_checkpoints.py " + " ".join(argv if argv is not None else sys.argv[1:])
    for row in bundle(args.runs, args.seed, args.out, command.strip()):
        print(f"{row['path']:<40} {row['recipe']:<24} AP {100 * row['AP']:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
