"""The collapse checks of every bundled model and of the first snapshots of each bundled history,
as the markdown table docs/explorer.md ("Collapsed outputs") shows (⚠ = flagged).

    python benchmarks/collapse_table.py                 # data_samples/checkpoints
    python benchmarks/collapse_table.py --first 3       # the first three snapshots of each history

Reads ``sdpose_core.interpret.collapse_report`` (16 fixed SynthPose probe crops); prints the table.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from sdpose_core.interpret import collapse_report
from sdpose_core.interpret.collapse import LIMITS
from sdpose_core.interpret.dynamics import load_snapshot
from sdpose_core.io.checkpoint import load_model
from sdpose_core.models.zoo import CHECKPOINT_DIR

# bundled file -> the row's name (the explorer's roles)
ROLES = {"synth-teacher": "synth-teacher", "synth-simcc-teacher": "synth-simcc-teacher",
         "synth-student": "synth-student (SDPose)", "synth-regression": "synth-regression (DistilPose)",
         "synth-simcc": "synth-simcc (DWPose)"}
COLUMNS = {"keypoints_fixed": "keypoints fixed", "at_mean_pose": "at the mean pose",
           "left_right_same": "left = right", "left_right_heatmaps": "L = R heatmaps", "sigma_fixed": "σ variation"}


def cell(report, name: str) -> str:
    value = report.value(name)
    if value is None:
        return "–"
    flagged = any(c.name == name for c in report.flags)
    text = f"{100 * value:.1f} %" if name == "sigma_fixed" else f"{value:.2f}"
    return text + (" ⚠" if flagged else "")


def rows(folder: Path, first: int) -> list[tuple[str, object]]:
    """(row name, collapse report) of each bundled role, then the first ``first`` snapshots per history."""
    out = [(label, collapse_report(load_model(folder / f"{name}.pt")))
           for name, label in ROLES.items() if (folder / f"{name}.pt").is_file()]
    for history in sorted(p for p in folder.iterdir() if (p / "history").is_dir()):
        for snap in sorted((history / "history").glob("epoch_*.pt"))[:first]:
            snapshot = load_snapshot(snap)
            out.append((f"{history.name} {snapshot.label}", collapse_report(snapshot.model)))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoints", type=Path, default=CHECKPOINT_DIR)
    parser.add_argument("--first", type=int, default=2, help="snapshots per history, from its first")
    args = parser.parse_args(argv)
    print("| model | " + " | ".join(COLUMNS.values()) + " |")
    print("| --- |" + " ---: |" * len(COLUMNS))
    for label, report in rows(args.checkpoints, args.first):
        print(f"| {label} | " + " | ".join(cell(report, name) for name in COLUMNS) + " |")
    limits = ", ".join(f"{COLUMNS[n]} {'<' if below else '≥'} "
                       f"{f'{100 * limit:g} %' if n == 'sigma_fixed' else limit}" for n, (limit, below) in LIMITS.items())
    print(f"\n⚠ = flagged ({limits})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
