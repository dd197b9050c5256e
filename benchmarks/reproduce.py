"""Reproduction benchmark: distil every student from the bundled backbone and teachers on SynthPose,
>= 3 seeds, and write docs/RESULTS.md (AP mean ± sd, paired differences to each baseline, learning
curves, held-out easy / medium AP, params, GFLOPs, CPU latency, training time).

    python benchmarks/reproduce.py                       # students only, from data_samples/checkpoints
    python benchmarks/reproduce.py --from-scratch        # also the backbone and both teachers, two stages (seed 0)
    python benchmarks/reproduce.py --seeds 0 --quick     # smoke run, minutes
    python benchmarks/reproduce.py --report-only         # rewrite the report from OUT/results.json
    python benchmarks/reproduce.py --report-only --payload benchmarks/results/A.json B.json  # from saved runs
    (an --out that already holds a --from-scratch run reuses its backbone and teachers for more seeds)
    python benchmarks/reproduce.py --from-scratch --bundle   # and refresh data_samples/checkpoints

The backbone (our stand-in for the ImageNet weights the papers start from) and the two teachers are
trained once, long, on mixed easy + medium SynthPose, the way users of the papers download a teacher
rather than train it; the teachers fine-tune the pretrained backbone, then a second stage on three
times the data, two thirds medium (``curriculum.py``), starts from their weights, then a third puts the
heatmap teacher's head on the SimCC teacher's body (``STAGE3``). Every student then reads the
backbone frozen (the opt-in ``--jobs baseline-ft sdpose-ft`` train it too) and distils from those
teachers, in dependency order::

    teacher -> distilpose, distilpose-official;  simcc-teacher -> dwpose-s1 -> dwpose-s2;
    simcc-teacher -> nkd, vitkd, mgd;  baseline, sdpose, regression, simcc, tf-nkd (no teacher)

Jobs run in ``--workers`` processes of one thread each (2 on a 2-core machine), each as soon as the
job it distils from has finished. A killed run resumes: rerun the same command. Students train on
cached features (``OUT/cache``: the frozen backbone and each teacher computed once per crop and
flip, shared by every seed; ``sdpose_core/train/feature_cache.py``); ``--no-cache`` runs them in full.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing
import sys
import time
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import asdict, replace
from pathlib import Path
from typing import Callable

import torch

from sdpose_core import load_model
from sdpose_core.data.synthpose import generate_dataset
from sdpose_core.evaluate.predict import evaluate_model
from sdpose_core.train.run_dir import RunDir
from sdpose_core.train.trainer import TrainOptions, train

from curriculum import stage_two_data  # benchmarks/ is on sys.path (a script's own folder)
from reproduce_report import STAGE, TWO_CYCLES, merge_payloads, stage_label, write_results

from reproduce_jobs import (BACKBONE, BUNDLED, FOUNDATION, QUICK, REGIME, SEEDS, STAGE2, STAGE3, STUDENTS,  # noqa: F401
                            TEACHERS, Budget, Job, zoo_model_of)

ROOT = Path(__file__).resolve().parents[1]


def train_job(job: Job, seed: int, data: dict[str, Path], run: Path, budget: Budget,
              backbone: Path | None, teacher: Path | None, threads: int, cache: Path | None = None,
              init: Path | None = None, init_body: Path | None = None) -> dict:
    """Train one job in this process (a pool worker); returns its final metrics and its curve.
    ``cache``: folder of cached frozen-backbone features and teacher outputs (students only);
    ``init`` / ``init_body``: checkpoints it starts from (all weights / all but the head)."""
    torch.set_num_threads(threads)
    start = time.perf_counter()
    train(TrainOptions(
        recipe=job.recipe, data=data[job.data], val=data["val"], out=run, model=job.model, teacher=teacher,
        backbone=backbone, finetune_backbone=job.finetune, seed=seed, batch_size=budget.batch_size,
        lr=budget.lr_of(job), augment=budget.augment, epochs=budget.epochs_of(job),
        max_steps_per_epoch=budget.steps_of(job), progress=False, init=init, init_body=init_body,
        feature_cache=cache_for(job, cache)))
    wall = time.perf_counter() - start  # epochs + building or reading the caches
    records = RunDir(run).read_metrics()
    row = {"AP": records[-1]["AP"], "PCK": records[-1].get("PCK@0.2", float("nan")),
           "seconds": sum(r.get("seconds", 0.0) for r in records), "checkpoint": str(run / "model.pt"),
           "curve": [r["AP"] for r in records], "steps_per_epoch": _steps_per_epoch(budget, job),
           "wall_seconds": wall, **({"init": str(init)} if init else {}),
           **({"init_body": str(init_body)} if init_body else {})}
    model = load_model(run / "model.pt")
    row["model"] = model.config.name  # the report measures this config if the checkpoint is gone
    for split in ("heldout-easy", "heldout-medium"):
        row[split] = evaluate_model(model, data[split], progress=False)["AP"]
    return row


def cache_for(job: Job, cache: Path | None) -> Path | None:
    """The feature cache a job trains on: none for a job that trains its backbone (the teachers,
    the ``-ft`` students), whose features change every step."""
    return None if job in FOUNDATION or job.finetune else cache


def _steps_per_epoch(budget: Budget, job: Job) -> int:
    full = budget.train_num // budget.batch_size
    return min(full, budget.steps_of(job) or full)


def run_pool(jobs: list[tuple[int, Job]], data: dict[str, Path], out: Path, budget: Budget, workers: int,
             known: dict[str, Path], results: dict, on_done: Callable[[], object] = lambda: None,
             cache: Path | None = None) -> None:
    """Every (seed, job) through a process pool, each started once its teacher is trained.

    ``known`` maps job names to finished checkpoints shared by every seed (the backbone, the
    teachers); ``results[seed][job]`` receives each row, and ``on_done`` runs after each (to save
    them, so a killed run keeps every finished job).
    """
    pending = list(jobs)
    ctx = multiprocessing.get_context("spawn")

    def ready(seed: int, job: Job) -> Path | None | bool:
        if not job.teacher:
            return None
        if job.teacher in results.get(seed, {}):
            return Path(results[seed][job.teacher]["checkpoint"])
        return known.get(job.teacher, False)

    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
        running: dict[Future, tuple[int, Job]] = {}
        while pending or running:
            for seed, job in list(pending):
                teacher = ready(seed, job)
                if teacher is False or len(running) >= workers:
                    continue
                backbone = None if job is BACKBONE or job.init else known["backbone"]
                init, body = (known[name] if name else None for name in (job.init, job.init_body))
                future = pool.submit(train_job, job, seed, data, out / f"seed{seed}" / job.name, budget,
                                     backbone, teacher, 1, cache, init, body)
                running[future] = (seed, job)
                pending.remove((seed, job))
            if not running:
                raise RuntimeError(f"jobs wait for teachers nobody trains: {[j.name for _, j in pending]}")
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                seed, job = running.pop(future)
                results.setdefault(seed, {})[job.name] = future.result()
                row = results[seed][job.name]
                print(f"seed {seed} {job.name:<20} AP {row['AP']:.4f}  held-out easy {row['heldout-easy']:.4f}"
                      f"  medium {row['heldout-medium']:.4f}  {row['seconds']:.0f} s", flush=True)
                on_done()


def students_in_order(names: list[str] | None) -> list[Job]:
    """The students named (STUDENTS or the opt-in REGIME), in the order named (repeats dropped), or
    every student in STUDENTS' order. A job waiting for its teacher (dwpose-s2 for dwpose-s1) still
    waits, whatever the order."""
    if not names:
        return list(STUDENTS)
    by_name = {job.name: job for job in (*STUDENTS, *REGIME)}
    unknown = [name for name in names if name not in by_name]
    if unknown:
        raise ValueError(f"unknown students {unknown}; known: {list(by_name)}")
    return [by_name[name] for name in dict.fromkeys(names)]


def make_data(out: Path, budget: Budget) -> dict[str, Path]:
    """The benchmark's SynthPose sets (regenerated only when missing: same seed, same bytes)."""
    sets = {"train": (budget.train_num, budget.difficulty), "val": (budget.val_num, budget.difficulty),
            "heldout-easy": (budget.heldout_num, "easy"), "heldout-medium": (budget.heldout_num, "medium")}
    data = {}
    for split, (num, difficulty) in sets.items():
        folder = out / "data" / split
        if not (folder / "annotations.json").is_file():
            generate_dataset(folder, num=num, seed=SEEDS[split], difficulty=difficulty, progress=False)
        data[split] = folder
    return data


def add_two_cycle_rows(results: dict, seeds: list[int], data: Callable[[], dict[str, Path]]) -> None:
    """SDPose evaluated with both cycles (the paper's "within 1 AP of the multi-cycle run").

    ``data()`` gives the sets, called only if a row is computed. A seed whose SDPose checkpoint is
    gone (a saved payload) keeps the row it has."""
    sets: dict[str, Path] = {}
    for seed in seeds:
        if "sdpose" not in results.get(seed, {}):
            continue
        row = dict(results[seed]["sdpose"])
        if not Path(row["checkpoint"]).is_file():
            if TWO_CYCLES not in results[seed]:
                raise FileNotFoundError(f"seed {seed}: {row['checkpoint']} is gone and no 2-cycle row was saved")
            continue
        sets = sets or data()
        model = load_model(row["checkpoint"])
        row.update(AP=evaluate_model(model, sets["val"], cycle=2, progress=False)["AP"], seconds=0.0, curve=[])
        for split in ("heldout-easy", "heldout-medium"):
            row[split] = evaluate_model(model, sets[split], cycle=2, progress=False)["AP"]
        results[seed][TWO_CYCLES] = row


def foundation_models(args: argparse.Namespace, data: dict[str, Path], budget: Budget,
                      foundation: dict) -> tuple[dict, dict[str, Path], float]:
    """The backbone and teachers the students read: trained now (``--from-scratch``), an earlier
    ``--from-scratch`` run's in the same ``--out``, or the bundled ones. Returns (rows, paths, seconds)."""
    start = time.perf_counter()
    if args.from_scratch:
        fresh: dict = {}
        run_pool([(0, BACKBONE)], data, args.out / "foundation", budget, args.workers, {}, fresh)
        run_pool([(0, job) for job in TEACHERS], data, args.out / "foundation", budget, args.workers,
                 {"backbone": Path(fresh[0]["backbone"]["checkpoint"])}, fresh)
        stage1 = {name: Path(row["checkpoint"]) for name, row in fresh[0].items()}
        data = {**data, "stage2": stage_two_data(args.out / "data", data["train"], budget.stage2_num)}
        second: dict = {}
        run_pool([(0, job) for job in STAGE2], data, args.out / "foundation" / "stage2", budget, args.workers,
                 stage1, second)
        third: dict = {}
        run_pool([(0, job) for job in STAGE3], data, args.out / "foundation" / "stage3", budget, args.workers,
                 {name: Path(row["checkpoint"]) for name, row in second[0].items()}, third)
        foundation = {"backbone": fresh[0]["backbone"],
                      **{job.name + stage_label(1): fresh[0][job.name] for job in TEACHERS},
                      **{job.name + stage_label(2): second[0][job.name] for job in STAGE3},
                      **second[0], **third[0]}
    if foundation:
        return foundation, {name: Path(row["checkpoint"]) for name, row in foundation.items()}, \
            time.perf_counter() - start
    missing = [str(p) for p in BUNDLED.values() if not p.is_file()]
    if missing:
        raise SystemExit(f"bundled models missing: {missing}; run with --from-scratch")
    return foundation, dict(BUNDLED), 0.0


def train_everything(args: argparse.Namespace, command: str) -> dict:
    """Make the data, train (the foundation if asked, then the students), save results.json after
    every job (a killed run keeps what it finished) and at the end."""
    budget = QUICK if args.quick else Budget()
    if args.student_epochs:
        budget = replace(budget, default_epochs=args.student_epochs)
    saved = _load_saved(args.out)
    results: dict = {int(k): v for k, v in saved.get("results", {}).items() if k != "foundation"}
    if results and any(asdict(budget).get(k) != v for k, v in saved.get("budget", {}).items()):
        raise SystemExit(f"{args.out} holds runs trained with another budget ({saved['budget']}); "
                         "use another --out (or the same --student-epochs / --quick as before)")
    data = make_data(args.out, budget)
    foundation, known, foundation_s = foundation_models(
        args, data, budget, saved.get("results", {}).get("foundation", {}))
    # job-major, in --jobs order: every seed of a job before the next job starts
    todo = [(seed, job) for job in students_in_order(args.jobs) for seed in args.seeds
            if job.name not in results.get(seed, {})]
    commands = list(saved.get("commands") or ([saved["command"]] if "command" in saved else []))
    if command not in commands:  # every invocation that filled this --out, oldest first
        commands.append(command)
    start = time.perf_counter()

    def save() -> dict:
        payload = {"command": command, "commands": commands, "budget": asdict(budget),
                   "feature_cache": not args.no_cache, "from_scratch": args.from_scratch or bool(foundation),
                   "foundation_wall_s": foundation_s if args.from_scratch else saved.get("foundation_wall_s"),
                   "students_wall_s": saved.get("students_wall_s", 0.0) + time.perf_counter() - start,
                   "seeds": sorted(set(args.seeds) | set(results)), "workers": args.workers,
                   "results": {"foundation": foundation, **{str(k): v for k, v in results.items()}}}
        (args.out / "results.json").write_text(json.dumps(payload, indent=1))
        return payload

    run_pool(todo, data, args.out, budget, args.workers, known, results, save,
             cache=None if args.no_cache else (args.cache or args.out / "cache"))
    add_two_cycle_rows(results, sorted(set(args.seeds) | set(results)), lambda: data)
    return save()


def default_docs(out: Path, student_epochs: int | None, quick: bool) -> Path:
    """docs/RESULTS.md for a full run at the default student epochs, else OUT/RESULTS.md: a --quick
    or --student-epochs run never overwrites the project's report unless --docs names it."""
    if not quick and student_epochs == Budget().default_epochs:
        return ROOT / "docs" / "RESULTS.md"
    return out / "RESULTS.md"


def saved_payload(out: Path, payloads: list[Path] | None) -> dict:
    """What ``--report-only`` reports: OUT/results.json, or the ``--payload`` files merged (the
    saved runs in ``benchmarks/results``, whose runs folders may be gone), each row naming its zoo
    model so the report can measure it without the checkpoint."""
    missing = [str(p) for p in payloads or [] if not p.is_file()]
    if missing:
        raise SystemExit(f"--payload: no such file {missing} (the saved runs are in benchmarks/results)")
    found = [json.loads(p.read_text()) for p in payloads] if payloads else [_load_saved(out)]
    if not all(p.get("budget") for p in found):
        raise SystemExit(f"{payloads or out / 'results.json'}: not found or from an older version: run the benchmark first")
    payload = merge_payloads(found)
    for name, row in (item for rows in payload["results"].values() for item in rows.items()):
        job = STAGE.fullmatch(name)["job"] if STAGE.fullmatch(name) else "sdpose" if name == TWO_CYCLES else name
        row.setdefault("model", zoo_model_of(job))
    return payload


def _load_saved(out: Path) -> dict:
    path = out / "results.json"
    return json.loads(path.read_text()) if path.is_file() else {}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "reproduce")
    parser.add_argument("--docs", type=Path, default=None,
                        help="the report to write (default docs/RESULTS.md for a run at the default student "
                             "epochs, else OUT/RESULTS.md)")
    parser.add_argument("--jobs", nargs="+", choices=[job.name for job in (*STUDENTS, *REGIME)], default=None,
                        help="train only these students, in this order (default: all but the opt-in baseline-ft / "
                             "sdpose-ft, which train their stem too); the others keep earlier results")
    parser.add_argument("--workers", type=int, default=2, help="jobs trained at once (one process each)")
    parser.add_argument("--from-scratch", action="store_true",
                        help="also train the backbone and both teachers (then their second and third stages, curriculum.py) "
                             "instead of reading the bundled ones")
    parser.add_argument("--quick", action="store_true", help="tiny data and 1 epoch: a smoke run")
    parser.add_argument("--no-cache", action="store_true",
                        help="students run their frozen backbone and teacher every step (default: computed once "
                             "per crop and flip into OUT/cache, sdpose_core/train/feature_cache.py)")
    parser.add_argument("--student-epochs", type=int, default=None,
                        help=f"epochs of every student but dwpose-s2 (default {Budget().default_epochs}, the plateau "
                             "of docs/RESULTS.md; 12 with --out runs/reproduce --docs docs/RESULTS_12epochs.md "
                             "gives that page, still gaining)")
    parser.add_argument("--cache", type=Path, default=None,
                        help="feature cache folder (default OUT/cache; point another --out at an earlier "
                             "run's cache to skip rebuilding it)")
    parser.add_argument("--report-only", action="store_true",
                        help="rewrite the report from OUT/results.json of a finished run, or from --payload files "
                             "(no training)")
    parser.add_argument("--payload", type=Path, nargs="+", default=None,
                        help="with --report-only: report these saved payloads (benchmarks/results/*.json) merged, "
                             "instead of OUT/results.json; the first gives the foundation and budget")
    parser.add_argument("--bundle", action="store_true",
                        help="then copy the first seed into data_samples/checkpoints (bundle_checkpoints.py)")
    args = parser.parse_args(argv)
    if args.payload and (not args.report_only or args.bundle):
        parser.error("--payload reports saved runs: use it with --report-only and without --bundle")
    if args.report_only:
        payload = saved_payload(args.out, args.payload)
        args.docs = args.docs or default_docs(args.out, payload["budget"].get("default_epochs"), False)
        # a run killed part-way saved its finished jobs; its seeds are those that hold any
        payload["seeds"] = sorted({int(k) for k in payload["results"] if k != "foundation"} | set(payload["seeds"]))
        if not args.payload:  # saved payloads keep their 2-cycle rows (their checkpoints may be gone or others)
            results = {int(k): v for k, v in payload["results"].items() if k != "foundation"}
            add_two_cycle_rows(results, payload["seeds"], lambda: make_data(args.out, Budget(**payload["budget"])))
            payload["results"].update({str(k): v for k, v in results.items()})
    else:
        args.docs = args.docs or default_docs(args.out, args.student_epochs or Budget().default_epochs, args.quick)
        command = "python benchmarks/reproduce.py " + " ".join(argv if argv is not None else sys.argv[1:])
        payload = train_everything(args, command.strip())
    write_results(payload, args.docs)
    print(f"wrote {args.docs}")
    if args.bundle:
        from bundle_checkpoints import main as bundle_main

        bundle_main(["--runs", str(args.out), "--seed", str(payload["seeds"][0]), "--doc", args.docs.name])
    return 0


if __name__ == "__main__":
    sys.exit(main())
