"""Reproduction benchmark: train the teachers and every student on SynthPose, >= 3 seeds, and
write docs/RESULTS.md (AP mean ± sd, params, GFLOPs, CPU latency, training time, paper claims).

    python benchmarks/reproduce.py                      # full run (3 seeds)
    python benchmarks/reproduce.py --seeds 0 --quick    # smoke run, minutes

Each seed trains (in dependency order):
    teacher -> baseline, sdpose -> regression, distilpose(teacher)
    simcc-teacher -> simcc, dwpose-s1(simcc-teacher) -> dwpose-s2(dwpose-s1)
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from sdpose_core import load_model
from sdpose_core.data.synthpose import generate_dataset
from sdpose_core.evaluate.latency import model_latency_ms
from sdpose_core.models.zoo import describe_model
from sdpose_core.train.trainer import TrainOptions, train

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Job:
    """One training run of the benchmark: ``name`` is its row, ``teacher`` the job it distils from."""

    name: str
    recipe: str
    model: str | None = None
    teacher: str | None = None


JOBS = (
    Job("teacher", "teacher"),
    Job("baseline", "baseline"),
    Job("sdpose", "sdpose"),
    Job("regression", "regression"),
    Job("distilpose", "distilpose", teacher="teacher"),
    Job("simcc-teacher", "simcc", model="synth-simcc-teacher"),
    Job("simcc", "simcc"),
    Job("dwpose-s1", "dwpose-s1", teacher="simcc-teacher"),
    Job("dwpose-s2", "dwpose-s2", teacher="dwpose-s1"),
)


@dataclass
class Budget:
    """Data and training budget shared by every job (per job epochs in ``epochs``)."""

    train_num: int = 4000
    val_num: int = 500
    difficulty: str = "medium"
    batch_size: int = 32
    epochs: dict[str, int] = field(default_factory=lambda: {"dwpose-s2": 2})
    default_epochs: int = 8
    max_steps: int | None = None


def run_seed(seed: int, data: dict[str, Path], out: Path, budget: Budget) -> dict[str, dict]:
    """Train every job for one seed; returns per-job {AP, PCK, seconds, checkpoint}."""
    rows: dict[str, dict] = {}
    for job in JOBS:
        run = out / f"seed{seed}" / job.name
        teacher = rows[job.teacher]["checkpoint"] if job.teacher else None
        start = time.perf_counter()
        history = train(TrainOptions(
            recipe=job.recipe, data=data["train"], val=data["val"], out=run, model=job.model,
            teacher=teacher, seed=seed, batch_size=budget.batch_size,
            epochs=budget.epochs.get(job.name, budget.default_epochs), max_steps_per_epoch=budget.max_steps,
            progress=sys.stderr.isatty()))
        metrics = history[-1] if history else json.loads((run / "metrics.jsonl").read_text().splitlines()[-1])
        rows[job.name] = {"AP": metrics["AP"], "PCK": metrics.get("PCK@0.2", float("nan")),
                          "seconds": time.perf_counter() - start, "checkpoint": run / "model.pt"}
        print(f"seed {seed} {job.name:<14} AP {metrics['AP']:.4f}  PCK@0.2 {rows[job.name]['PCK']:.4f}  "
              f"{rows[job.name]['seconds']:.0f} s", flush=True)
    return rows


def model_facts(checkpoint: Path) -> dict:
    model = load_model(checkpoint)
    facts = describe_model(model.config)
    facts["latency_ms"] = model_latency_ms(model, batch=1, cycles=1)
    return facts


def mean_sd(values: list[float]) -> tuple[float, float]:
    return statistics.mean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def checks(ap: dict[str, float], latency: dict[str, float]) -> list[tuple[str, bool, str]]:
    """The issue's targets, each with the measured numbers behind the verdict (AP in points)."""
    pts = {k: 100 * v for k, v in ap.items()}
    return [
        ("SDPose one pass ≥ +2 AP over the same net without MCT", pts["sdpose"] - pts["baseline"] >= 2,
         f"{pts['sdpose']:.1f} vs {pts['baseline']:.1f}"),
        ("DistilPose ≥ +10 AP over plain regression", pts["distilpose"] - pts["regression"] >= 10,
         f"{pts['distilpose']:.1f} vs {pts['regression']:.1f}"),
        ("DistilPose ≤ 1 AP under its teacher", pts["teacher"] - pts["distilpose"] <= 1,
         f"{pts['distilpose']:.1f} vs teacher {pts['teacher']:.1f}"),
        ("DistilPose ≥ 5× lower CPU latency than the teacher", latency["teacher"] >= 5 * latency["distilpose"],
         f"{latency['distilpose']:.1f} ms vs {latency['teacher']:.1f} ms"),
        ("DWPose stage 1 ≥ +1 AP over the SimCC baseline", pts["dwpose-s1"] - pts["simcc"] >= 1,
         f"{pts['dwpose-s1']:.1f} vs {pts['simcc']:.1f}"),
        ("DWPose stage 2 adds more", pts["dwpose-s2"] > pts["dwpose-s1"],
         f"{pts['dwpose-s2']:.1f} vs {pts['dwpose-s1']:.1f}"),
    ]


def write_results(per_seed: dict[int, dict], facts: dict[str, dict], budget: Budget, command: str,
                  path: Path) -> str:
    seeds = sorted(per_seed)
    lines = [
        "# Reproduction results on SynthPose", "",
        f"Measured with `{command}` on {torch.get_num_threads()} CPU threads; seeds {seeds}; "
        f"SynthPose {budget.difficulty}, {budget.train_num} train / {budget.val_num} val crops at 128×96.", "",
        "| run | model | params (M) | GFLOPs (1 pass) | AP mean ± sd | AP per seed | PCK@0.2 | CPU latency b=1 (ms) | train time / seed (s) |",
        "|---|---|---:|---:|---:|---|---:|---:|---:|",
    ]
    ap_mean, latency = {}, {}
    for job in JOBS:
        aps = [per_seed[s][job.name]["AP"] * 100 for s in seeds]
        m, sd = mean_sd(aps)
        ap_mean[job.name] = m / 100
        f = facts[job.name]
        latency[job.name] = f["latency_ms"]
        pck = statistics.mean(per_seed[s][job.name]["PCK"] for s in seeds)
        secs = statistics.mean(per_seed[s][job.name]["seconds"] for s in seeds)
        lines.append(f"| {job.name} | {f['name']} | {f['params_m']:.2f} | {f['gflops_one_pass']:.3f} | "
                     f"{m:.1f} ± {sd:.1f} | {', '.join(f'{a:.1f}' for a in aps)} | {pck:.3f} | "
                     f"{f['latency_ms']:.1f} | {secs:.0f} |")
    lines += ["", "## Targets", "", "| target | met | measured |", "|---|---|---|"]
    lines += [f"| {name} | {'yes' if ok else '**no**'} | {detail} |" for name, ok, detail in checks(ap_mean, latency)]
    text = "\n".join(lines) + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "reproduce")
    parser.add_argument("--docs", type=Path, default=ROOT / "docs" / "RESULTS.md")
    parser.add_argument("--quick", action="store_true", help="tiny data and 1 epoch: a smoke run")
    args = parser.parse_args(argv)
    budget = Budget(train_num=200, val_num=50, default_epochs=1, epochs={}) if args.quick else Budget()
    data = {split: generate_dataset(args.out / "data" / split, num=num, seed=seed, difficulty=budget.difficulty,
                                    progress=False)
            for split, num, seed in (("train", budget.train_num, 1000), ("val", budget.val_num, 2000))}
    per_seed = {seed: run_seed(seed, data, args.out, budget) for seed in args.seeds}
    facts = {job.name: model_facts(per_seed[args.seeds[0]][job.name]["checkpoint"]) for job in JOBS}
    command = "python benchmarks/reproduce.py " + " ".join(argv if argv is not None else sys.argv[1:])
    print(write_results(per_seed, facts, budget, command.strip(), args.docs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
