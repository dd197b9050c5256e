"""The teachers' second and third stages alone, from first-stage teachers you already have.

``reproduce.py --from-scratch`` runs these stages after training the teachers; this script runs them
from existing weights. Second stage: both teachers warm-start (``sdpose train --init``) on the
benchmark's training set plus 32 000 fresh crops, two thirds medium (``curriculum.py``), with a fresh
warm-up and cosine schedule at a lower peak rate (``Budget.stage2_*``), side by side on one thread
each. Third stage, heatmap teacher only: its second-stage head on the SimCC teacher's second-stage
body (``sdpose train --init-body``), same data and rate, ``Budget.stage3_epochs``.
AP on the benchmark's val set after every epoch; at the end, held-out easy and medium AP (seeds
1302 / 1303) of the teachers it started from and of the new ones.

    python benchmarks/curriculum_teachers.py --out runs/t2 --teacher T1.pt --simcc-teacher S1.pt  # ~110 min
    python benchmarks/curriculum_teachers.py --out /tmp/cur --teacher T1.pt --simcc-teacher S1.pt --quick

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
from reproduce import make_data, run_pool
from reproduce_jobs import QUICK, STAGE2, STAGE3, Budget
from reproduce_report import STAGE, stage_label


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, default=Path("runs/curriculum"))
    p.add_argument("--benchmark", type=Path, default=Path("runs/reproduce"),
                   help="reproduce.py's --out: its SynthPose sets are reused (generated if missing)")
    p.add_argument("--teacher", type=Path, required=True, help="first-stage heatmap teacher to start from")
    p.add_argument("--simcc-teacher", type=Path, required=True, help="first-stage SimCC teacher to start from")
    p.add_argument("--quick", action="store_true", help="tiny data, 1 epoch of 5 steps: a smoke run")
    args = p.parse_args(argv)
    start_from = {"teacher": args.teacher, "simcc-teacher": args.simcc_teacher}
    for path in start_from.values():
        if not path.is_file():
            p.error(f"{path} does not exist")
    budget = QUICK if args.quick else Budget()
    data = make_data(args.benchmark, budget)
    data["stage2"] = stage_two_data(args.out / "data", data["train"], budget.stage2_num)
    second: dict = {}
    run_pool([(0, job) for job in STAGE2], data, args.out, budget, 2, start_from, second)
    third: dict = {}
    run_pool([(0, job) for job in STAGE3], data, args.out / "stage3", budget, 2,
             {name: Path(row["checkpoint"]) for name, row in second[0].items()}, third)
    rows = {"teacher" + stage_label(2): second[0]["teacher"], **second[0], **third[0]}
    for name, path in start_from.items():  # the "start" columns: the first-stage teacher a row came from
        start = load_model(path)
        for split in ("heldout-easy", "heldout-medium"):
            ap = evaluate_model(start, data[split], progress=False)["AP"]
            for row in (row for key, row in rows.items() if (STAGE.fullmatch(key) or {"job": key})["job"] == name):
                row[f"start-{split}"] = ap
    (args.out / "results.json").write_text(json.dumps(rows, indent=1))
    print(f"{'teacher':<18}{'start easy':>11}{'start medium':>13}{'easy':>7}{'medium':>8}{'minutes':>9}")
    for name, row in rows.items():
        print(f"{name:<18}{100 * row['start-heldout-easy']:>11.1f}{100 * row['start-heldout-medium']:>13.1f}"
              f"{100 * row['heldout-easy']:>7.1f}{100 * row['heldout-medium']:>8.1f}{row['wall_seconds'] / 60:>9.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
