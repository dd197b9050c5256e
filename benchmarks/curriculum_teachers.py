"""The teachers' second stage alone, from teachers you already have (default: the bundled ones).

``reproduce.py --from-scratch`` runs this stage after training the teachers; this script runs it
from existing weights: both teachers warm-start (``sdpose train --init``) on the benchmark's
training set plus 32 000 fresh crops, two thirds medium (``curriculum.py``), with a fresh warm-up
and cosine schedule at a lower peak rate (``Budget.stage2_*``), side by side on one thread each.
AP on the benchmark's val set after every epoch; at the end, held-out easy and medium AP (seeds
1302 / 1303) of the teachers it started from and of the new ones.

    python benchmarks/curriculum_teachers.py --out runs/t2            # ~60 min on 2 cores
    python benchmarks/curriculum_teachers.py --out /tmp/cur --quick   # smoke run

A killed run resumes (rerun the same command). Results: ``OUT/results.json`` and a table.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from sdpose_core import load_model
from sdpose_core.evaluate.predict import evaluate_model

from curriculum import stage_two_data  # benchmarks/ is on sys.path
from reproduce import BUNDLED, QUICK, STAGE2, Budget, make_data, run_pool


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, default=Path("runs/curriculum"))
    p.add_argument("--benchmark", type=Path, default=Path("runs/reproduce"),
                   help="reproduce.py's --out: its SynthPose sets are reused (generated if missing)")
    p.add_argument("--teacher", type=Path, default=BUNDLED["teacher"], help="heatmap teacher to start from")
    p.add_argument("--simcc-teacher", type=Path, default=BUNDLED["simcc-teacher"], help="SimCC teacher to start from")
    p.add_argument("--quick", action="store_true", help="tiny data, 1 epoch of 5 steps: a smoke run")
    args = p.parse_args(argv)
    start_from = {"teacher": args.teacher, "simcc-teacher": args.simcc_teacher}
    for path in start_from.values():
        if not path.is_file():
            p.error(f"{path} does not exist")
    budget = QUICK if args.quick else Budget()
    data = make_data(args.benchmark, budget)
    data["stage2"] = stage_two_data(args.out / "data", data["train"], budget.stage2_num)
    results: dict = {}
    run_pool([(0, job) for job in STAGE2], data, args.out, budget, 2, start_from, results)
    rows = results[0]
    for name, path in start_from.items():
        start = load_model(path)
        for split in ("heldout-easy", "heldout-medium"):
            rows[name][f"start-{split}"] = evaluate_model(start, data[split], progress=False)["AP"]
    (args.out / "results.json").write_text(json.dumps(rows, indent=1))
    print(f"{'teacher':<15}{'start easy':>11}{'start medium':>13}{'easy':>7}{'medium':>8}{'minutes':>9}")
    for name, row in rows.items():
        print(f"{name:<15}{100 * row['start-heldout-easy']:>11.1f}{100 * row['start-heldout-medium']:>13.1f}"
              f"{100 * row['heldout-easy']:>7.1f}{100 * row['heldout-medium']:>8.1f}{row['wall_seconds'] / 60:>9.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
