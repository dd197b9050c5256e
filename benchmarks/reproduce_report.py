"""docs/RESULTS.md and docs/img/learning_curves.png from a reproduce.py results payload.

Every number written here is read from ``results.json`` or measured now (params, GFLOPs, latency);
the hand-written analysis below ``ANALYSIS_MARK`` survives a rewrite.
"""
from __future__ import annotations

import json
import re
import statistics
from pathlib import Path

import torch

from sdpose_core import load_model
from sdpose_core.evaluate.latency import model_latency_ms
from sdpose_core.io.checkpoint import read_checkpoint
from sdpose_core.models.zoo import build_model, describe_model, get_config

TWO_CYCLES = "sdpose (2 cycles)"  # the SDPose students evaluated with both cycles (reproduce.add_two_cycle_rows)
STAGE = re.compile(r"(?P<job>.+) \(stage (?P<stage>\d+)\)")  # a teacher's earlier stage (reproduce.foundation_models)
OPT_IN = ("baseline-ft", "sdpose-ft")  # reproduce_jobs.REGIME: never in the default run
REPORT_ORDER = ("baseline", "sdpose", TWO_CYCLES, "baseline-ft", "sdpose-ft", "regression", "distilpose",
                "distilpose-official", "simcc", "dwpose-s1", "dwpose-s2", "nkd", "tf-nkd", "vitkd", "mgd")
LATENCY_WARMUP, LATENCY_REPEATS = 30, 200  # per model and cycle count (model_facts)
ANALYSIS_MARK = "<!-- analysis: written by hand, kept when reproduce.py rewrites the tables above -->"
# (claim, run, reference): each compared per seed, paired
COMPARISONS = (
    ("SDPose one pass vs the same net without MCT (paper: +1.4 to +2.8 AP)", "sdpose", "baseline"),
    ("SDPose one pass vs its own 2-cycle run (paper: within 1 AP)", "sdpose", TWO_CYCLES),
    ("SDPose vs the same net without MCT, stem fine-tuned too (closer to the paper's regime)", "sdpose-ft", "baseline-ft"),
    ("DistilPose vs plain regression (paper: +10 or more)", "distilpose", "regression"),
    ("DistilPose, official loss, vs plain regression", "distilpose-official", "regression"),
    ("DistilPose vs its teacher (paper: within ~1 AP)", "distilpose", "teacher"),
    ("DWPose stage 1 vs SimCC (paper: +1 or more)", "dwpose-s1", "simcc"),
    ("DWPose stage 2 vs stage 1 (paper: stage 2 adds more)", "dwpose-s2", "dwpose-s1"),
    ("NKD vs SimCC", "nkd", "simcc"),
    ("tf-NKD (no teacher) vs SimCC", "tf-nkd", "simcc"),
    ("ViTKD vs SimCC", "vitkd", "simcc"),
    ("MGD vs SimCC", "mgd", "simcc"),
)


def mean_sd(values: list[float]) -> tuple[float, float]:
    return statistics.mean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def model_facts(row: dict) -> dict:
    """Params, GFLOPs and CPU latency of a row's model. A backbone-only file (the bundled
    ``backbone.pt`` a run read instead of training it) is measured on its zoo config,
    ``synth-backbone``; a row whose checkpoint is gone (a saved payload, its runs folder deleted) on
    the zoo config it names (``row["model"]``): none of the three depends on the weights."""
    checkpoint = Path(row["checkpoint"])
    if checkpoint.is_file():
        is_backbone = read_checkpoint(checkpoint).get("kind") == "backbone"
        model = build_model(get_config("synth-backbone")) if is_backbone else load_model(checkpoint)
    elif row.get("model"):
        model = build_model(get_config(row["model"]))
    else:
        raise FileNotFoundError(f"{checkpoint} is gone and the row names no zoo model to measure instead")
    facts = describe_model(model.config)
    # one thread (with two, the median of 20 calls moved by up to 1.7x between calls) and 200 calls
    # after 30 of warm-up: with 20 after 3, two students of one architecture differed by 1.6x
    timing = dict(batch=1, threads=1, warmup=LATENCY_WARMUP, repeats=LATENCY_REPEATS)
    facts["latency_ms"] = model_latency_ms(model, cycles=1, **timing)
    facts["latency_all_cycles_ms"] = model_latency_ms(model, cycles=model.config.cycle_num, **timing)
    return facts


def plateau_gain(curve: list[float]) -> float | None:
    """AP points gained over the last 3 epochs (None for shorter curves)."""
    return 100 * (curve[-1] - curve[-4]) if len(curve) >= 4 else None


def seeds_of(payload: dict, name: str) -> list[int]:
    """The seeds of the payload that hold a finished ``name`` (all of them for the foundation)."""
    results = payload["results"]
    if name in results["foundation"]:
        return list(payload["seeds"])
    return [s for s in payload["seeds"] if name in results.get(str(s), {})]


def has_row(payload: dict, name: str) -> bool:
    """Whether at least one seed (or the foundation) holds a finished ``name``."""
    return bool(seeds_of(payload, name))


def row_of(payload: dict, seed: int | str, name: str) -> dict:
    """A job's row: the seed's own run, or the shared foundation (backbone, teachers)."""
    results = payload["results"]
    return results.get(str(seed), {}).get(name) or results["foundation"][name]


def stage_label(stage: int) -> str:
    """The suffix of a teacher's row for a stage that a later one replaced: ``teacher (stage 1)``."""
    return f" (stage {stage})"


def stage_of(name: str, names) -> int:
    """The stage of a foundation row: its label's, or for a final row one more than its earlier rows."""
    match = STAGE.fullmatch(name)
    if match:
        return int(match["stage"])
    return 1 + sum(1 for other in names if (m := STAGE.fullmatch(other)) and m["job"] == name)


def foundation_seconds(rows: dict) -> float | None:
    """Training time of a --from-scratch foundation: the backbone, then each stage of the teachers
    (those of one stage side by side on the 2 workers); None when it was read, not trained."""
    if "backbone" not in rows or len(rows) == 1:
        return None
    slowest: dict[int, float] = {}
    for name, row in rows.items():
        if name != "backbone":
            stage = stage_of(name, rows)
            slowest[stage] = max(slowest.get(stage, 0.0), row["seconds"])
    return rows["backbone"]["seconds"] + sum(slowest.values())


def foundation_table(payload: dict, facts: dict[str, dict]) -> list[str]:
    lines = ["| model | params (M) | GFLOPs | AP val (mixed) | AP held-out easy | AP held-out medium | "
             "last 3 epochs (AP pts) | CPU latency b=1 (ms) | train time (min) |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for name, row in payload["results"]["foundation"].items():
        f, gain = facts[name], plateau_gain(row["curve"])
        lines.append(f"| {name} ({f['name']}) | {f['params_m']:.2f} | {f['gflops_one_pass']:.3f} | "
                     f"{100 * row['AP']:.1f} | {100 * row['heldout-easy']:.1f} | {100 * row['heldout-medium']:.1f} | "
                     f"{'–' if gain is None else f'{gain:+.1f}'} | {f['latency_ms']:.1f} | {row['seconds'] / 60:.1f} |")
    return lines


def students_table(payload: dict, facts: dict[str, dict], names: list[str]) -> list[str]:
    lines = ["| run | model | params (M) | GFLOPs (1 pass) | seeds | AP mean ± sd | AP per seed | held-out easy | "
             "held-out medium | last 3 epochs (AP pts) | CPU latency b=1 (ms) | train time / seed (s) |",
             "|---|---|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|"]
    for name in names:
        seeds = seeds_of(payload, name)
        rows = [row_of(payload, s, name) for s in seeds]
        aps = [100 * r["AP"] for r in rows]
        m, sd = mean_sd(aps)
        two_cycles = name == TWO_CYCLES
        f = facts["sdpose" if two_cycles else name]
        latency = f["latency_all_cycles_ms" if two_cycles else "latency_ms"]
        gains = [g for g in (plateau_gain(r.get("curve", [])) for r in rows) if g is not None]
        easy = statistics.mean(100 * r["heldout-easy"] for r in rows)
        medium = statistics.mean(100 * r["heldout-medium"] for r in rows)
        lines.append(f"| {name} | {f['name']} | {f['params_m']:.2f} | {f['gflops_one_pass']:.3f} | {len(seeds)} | {m:.1f} ± {sd:.1f} | "
                     f"{', '.join(f'{a:.1f}' for a in aps)} | {easy:.1f} | {medium:.1f} | "
                     f"{', '.join(f'{g:+.1f}' for g in gains) or '–'} | {latency:.1f} | "
                     f"{'–' if two_cycles else format(statistics.mean(r['seconds'] for r in rows), '.0f')} |")
    return lines


def comparisons_table(payload: dict) -> list[str]:
    lines = ["| comparison (AP points, paired by seed) | seeds | run | reference | mean difference ± sd | per seed |",
             "|---|---:|---:|---:|---:|---|"]
    for claim, run, ref in COMPARISONS:
        seeds = [s for s in seeds_of(payload, run) if s in seeds_of(payload, ref)]
        if not seeds:
            lines.append(f"| {claim} | 0 | not run | | | |")
            continue
        epochs = payload.get("budget", {}).get("epochs", {}).get(run)
        if run in OPT_IN and epochs:  # an opt-in pair merged from a run of another length says so
            claim += f", {epochs} epochs"
        a = [100 * row_of(payload, s, run)["AP"] for s in seeds]
        b = [100 * row_of(payload, s, ref)["AP"] for s in seeds]
        diffs = [x - y for x, y in zip(a, b)]
        m, sd = mean_sd(diffs)
        lines.append(f"| {claim} | {len(seeds)} | {statistics.mean(a):.1f} | {statistics.mean(b):.1f} | {m:+.1f} ± {sd:.1f} | "
                     f"{', '.join(f'{d:+.1f}' for d in diffs)} |")
    return lines


# (teacher, student): the cost ratio each distillation claim rests on (DistilPose: HRNet-W48 teacher,
# 14.6 GFLOPs, against a 2.4-GFLOPs student in the paper)
COST_PAIRS = (("teacher", "distilpose"), ("simcc-teacher", "dwpose-s1"))


def cost_ratios(facts: dict[str, dict]) -> list[str]:
    """A heading and one line per (teacher, student) pair present: GFLOPs and CPU latency of the
    teacher over the student's (nothing when no pair is: a students-only run)."""
    lines, ratios = [], []
    for teacher, student in COST_PAIRS:
        if teacher in facts and student in facts:
            t, s = facts[teacher], facts[student]
            ratios.append(t["gflops_one_pass"] / s["gflops_one_pass"])
            lines.append(f"- {teacher} / {student}: GFLOPs {t['gflops_one_pass']:.3f} / {s['gflops_one_pass']:.3f} = "
                         f"**{ratios[-1]:.2f}×**, CPU latency {t['latency_ms']:.1f} / "
                         f"{s['latency_ms']:.1f} ms = **{t['latency_ms'] / s['latency_ms']:.2f}×**")
    if not lines:
        return []
    verdict = "these are not" if max(ratios) < 2 else "so are these" if min(ratios) >= 2 else "some of these are"
    return [f"Teacher cost over student cost (the papers' teachers are several times heavier than their "
            f"students; {verdict}):", "", *lines, ""]


# what every run of one report must share (the schedule's length may differ: budget["epochs"] says)
SAME_BUDGET = ("train_num", "val_num", "heldout_num", "difficulty", "augment", "batch_size", "lr", "student_steps")


def merge_payloads(payloads: list[dict]) -> dict:
    """One report's payload from several saved runs (``benchmarks/results/*.json``).

    The first gives the budget and the foundation (backbone, teachers; a later payload may hold
    none, or the same one); each later one adds its students' rows to their seeds and, where its
    length differs, their epochs to ``budget["epochs"]`` (so the report says which rows trained
    shorter or longer). Refused: other data or optimiser settings or workers, a job two payloads
    hold for one seed, one job name at two lengths (its seeds would be pooled), another foundation.
    """
    merged = json.loads(json.dumps(payloads[0]))  # deep copies: the inputs stay as they were
    budget = merged["budget"]
    merged["commands"] = list(merged.get("commands") or [merged["command"]])

    def length(payload: dict, name: str) -> int:
        return payload["budget"]["epochs"].get(name, payload["budget"]["default_epochs"])

    for other in (json.loads(json.dumps(p)) for p in payloads[1:]):
        differ = [k for k in SAME_BUDGET if other["budget"].get(k) != budget.get(k)]
        if differ:
            raise ValueError(f"cannot merge runs with different {differ}: "
                             f"{[(budget.get(k), other['budget'].get(k)) for k in differ]}")
        if other["workers"] != merged["workers"]:
            raise ValueError(f"cannot merge runs on {merged['workers']} and {other['workers']} workers")
        foundation = other["results"].get("foundation") or {}
        if foundation and sorted(foundation) != sorted(merged["results"]["foundation"]):
            raise ValueError(f"a later payload has its own foundation {sorted(foundation)}: list the payload "
                             "whose backbone and teachers the report shows first")
        held = {name for seed, rows in merged["results"].items() if seed != "foundation" for name in rows}
        for seed, rows in other["results"].items():
            if seed == "foundation":
                continue
            target = merged["results"].setdefault(seed, {})
            clash = sorted(set(rows) & set(target))
            if clash:
                raise ValueError(f"seed {seed}: {clash} are in two of the merged payloads")
            for name in (n for n in rows if n != TWO_CYCLES):
                if name in held and length(other, name) != length(merged, name):
                    raise ValueError(f"{name} trained {length(merged, name)} epochs in one payload and "
                                     f"{length(other, name)} in another: their seeds cannot share a row")
                if length(other, name) != length(merged, name):
                    budget["epochs"][name] = length(other, name)
            target.update(rows)
        merged["commands"] += [c for c in other.get("commands") or [other["command"]] if c not in merged["commands"]]
        merged["seeds"] = sorted(set(merged["seeds"]) | set(other["seeds"]))
        merged["students_wall_s"] = merged.get("students_wall_s", 0.0) + other.get("students_wall_s", 0.0)
    return merged


def plot_curves(payload: dict, path: Path) -> None:
    """AP vs training step, one panel per group, one line per seed (the jump is visible)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = {"backbone and teachers": list(payload["results"]["foundation"]),
              "SDPose": ["baseline", "sdpose", "baseline-ft", "sdpose-ft"], "DistilPose": ["regression", "distilpose", "distilpose-official"],
              "DWPose and the KD family": ["simcc", "dwpose-s1", "dwpose-s2", "nkd", "tf-nkd", "vitkd", "mgd"]}
    groups = {title: names for title, names in groups.items() if any(has_row(payload, n) for n in names)}
    if not groups:
        raise ValueError("no run in this payload has a learning curve to draw")
    fig, axes = plt.subplots(1, len(groups), figsize=(5 * len(groups), 4), sharey=True, squeeze=False)
    axes = axes[0]
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, (title, names) in zip(axes, groups.items()):
        for i, name in enumerate(n for n in names if has_row(payload, n)):
            for j, seed in enumerate(seeds_of(payload, name) if title != "backbone and teachers" else ["foundation"]):
                row = row_of(payload, seed, name)
                earlier = ["dwpose-s1"] if name == "dwpose-s2" else \
                    [name + stage_label(k) for k in range(1, stage_of(name, payload["results"]["foundation"]))]
                offset = 0  # a later stage continues the earlier ones (same seed)
                for before in (row_of(payload, seed, n) for n in earlier if has_row(payload, n)):
                    offset += len(before["curve"]) * before["steps_per_epoch"]
                steps = [offset + (e + 1) * row["steps_per_epoch"] for e in range(len(row["curve"]))]
                ax.plot(steps, [100 * a for a in row["curve"]], "-o", ms=2.5, lw=1.2, color=colours[i % len(colours)],
                        alpha=0.9 if j == 0 else 0.45, label=name if j == 0 else None)
        ax.set_title(title)
        ax.set_xlabel("training step (batch 32)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    axes[0].set_ylabel("AP on SynthPose val (easy + medium), ×100")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def timed_jobs(names: list[str]) -> list[str]:
    """The jobs of the per-seed time: not the 2-cycle rows (an evaluation) nor the opt-in ones
    (their own runs, uncached: the students' table gives their time)."""
    return [n for n in names if n != TWO_CYCLES and n not in OPT_IN]


def job_time_per_seed(payload: dict, names: list[str]) -> tuple[float, list[int], list[float]] | None:
    """Mean over the seeds that hold every student (but the opt-in ``OPT_IN`` rows, uncached and run
    on their own) of (sum of their jobs' wall times) / workers: the
    pool's time for one seed with no idle worker. Seeds are interleaved job by job in one pool
    (reproduce.py), so no seed has a wall-clock span of its own. Returns (mean s, seeds, per seed s)."""
    jobs = timed_jobs(names)
    seeds = [s for s in payload["seeds"] if all(n in payload["results"].get(str(s), {}) for n in jobs)]
    if not jobs or not seeds:
        return None
    totals = [sum(payload["results"][str(s)][n].get("wall_seconds", payload["results"][str(s)][n]["seconds"])
                  for n in jobs) / payload["workers"] for s in seeds]
    return statistics.mean(totals), seeds, totals


def curves_name(path: Path) -> str:
    """docs/RESULTS.md draws img/learning_curves.png; another report (RESULTS_12epochs.md) its own
    img/learning_curves_12epochs.png, so a second run never overwrites the main picture."""
    stem = path.stem.lower()
    return "learning_curves.png" if stem == "results" else f"learning_curves_{stem.removeprefix('results_')}.png"


def write_results(payload: dict, path: Path) -> str:
    budget, seeds = payload["budget"], payload["seeds"]
    names = [n for n in REPORT_ORDER if has_row(payload, n) and n not in payload["results"]["foundation"]]
    facts = {n: model_facts(row_of(payload, seeds_of(payload, n)[0], n))
             for n in [*payload["results"]["foundation"], *names] if n != TWO_CYCLES}
    img = path.parent / "img" / curves_name(path)
    plot_curves(payload, img)
    job_time = job_time_per_seed(payload, names)
    found = foundation_seconds(payload["results"]["foundation"])
    lines = [
        "# Reproduction results on SynthPose", "",
        "Measured with " + " then ".join(f"`{c}`" for c in payload.get("commands") or [payload["command"]])
        + f": seeds {seeds}, {payload['workers']} worker processes of one "
        f"thread each on {torch.get_num_threads()} CPU threads. SynthPose `{budget['difficulty']}` "
        f"({budget['train_num']} train crops, {budget['val_num']} val crops at 128×96), held-out easy and medium "
        f"sets of {budget['heldout_num']} crops from seeds no other part of the project uses. Augmentation "
        f"`{budget['augment']}`, AdamW lr {budget['lr']} with warm-up and cosine decay over each run's length, "
        f"batch {budget['batch_size']}. Epochs: {budget['epochs']}, others {budget['default_epochs']}; students "
        f"see {budget['student_steps']} batches per epoch.", "",
        (f"Time: the {len(timed_jobs(names))} students of one seed take **{job_time[0] / 60:.1f} min** on "
         f"{payload['workers']} workers (each job's own wall time, summed, ÷ {payload['workers']}; seeds "
         f"{job_time[1]}: " + ", ".join(f"{t / 60:.1f}" for t in job_time[2]) + " min)"
         if job_time else "Time: no seed has every student yet; each job's own time is in the students' table")
        + (f"; the backbone, then both teachers side by side, then their second stage side by side, then "
           f"the heatmap teacher's third (`--from-scratch`) took **{found / 60:.1f} min** of training (the backbone's epochs plus the slower "
           "teacher's of each stage)." if found else
           "; the backbone and teachers were read from data_samples/checkpoints."), "",
        "AP is COCO keypoint AP ×100 (pycocotools, GT boxes). Latency is one 128×96 crop, one pass, one thread of "
        "this machine's CPU. \"last 3 epochs\" is the AP gained over the last three epochs: near 0 means the run "
        "reached its plateau.", "",
        f"![AP against training step for every run](img/{img.name})", "",
        "## Backbone and teachers (trained once)", "", *foundation_table(payload, facts), "",
        "## Students", "", *students_table(payload, facts, names), "",
        "## The papers' claims, paired by seed", "", *comparisons_table(payload), "", *cost_ratios(facts),
    ]
    text = "\n".join(lines) + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    old = path.read_text() if path.is_file() else ""
    # the mark is always written, so text added below it by hand survives the next rewrite
    kept = old[old.index(ANALYSIS_MARK):] if ANALYSIS_MARK in old else ANALYSIS_MARK + "\n"
    path.write_text(text + "\n" + kept)
    return text
