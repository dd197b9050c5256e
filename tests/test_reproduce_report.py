"""The reproduction's pure helpers (benchmarks/reproduce.py job order, benchmarks/reproduce_report.py): per-seed time, cost ratios,
paired claims, plateau gains, on a hand-made results payload (no training)."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import reproduce  # noqa: E402
import reproduce_report as report  # noqa: E402


def _payload() -> dict:
    def row(ap: float, wall: float) -> dict:
        return {"AP": ap, "seconds": wall - 10, "wall_seconds": wall, "curve": [0.1, ap - 0.03, ap - 0.01, ap]}
    return {"seeds": [0, 1, 2], "workers": 2, "results": {
        "foundation": {"teacher": row(0.70, 100.0)},
        "0": {"baseline": row(0.60, 400.0), "sdpose": row(0.58, 800.0)},
        "1": {"baseline": row(0.62, 420.0), "sdpose": row(0.61, 780.0)},
        "2": {"baseline": row(0.61, 410.0)},  # sdpose not finished: seed 2 has no per-seed time
    }}


def test_job_time_per_seed_uses_only_complete_seeds() -> None:
    mean, seeds, totals = report.job_time_per_seed(_payload(), ["baseline", "sdpose", "sdpose (2 cycles)"])
    assert seeds == [0, 1]
    assert totals == [pytest.approx(600.0), pytest.approx(600.0)]  # (400 + 800) / 2, (420 + 780) / 2
    assert mean == pytest.approx(600.0)
    assert report.job_time_per_seed(_payload(), []) is None


def test_comparisons_pair_by_seed() -> None:
    lines = report.comparisons_table(_payload())
    sdpose = next(line for line in lines if line.startswith("| SDPose one pass vs the same net"))
    cells = [c.strip() for c in sdpose.strip("|").split("|")]
    assert cells[1] == "2"  # seeds 0 and 1 hold both runs
    assert cells[4] == "-1.5 ± 0.7"  # -2.0 and -1.0 AP points
    assert cells[5] == "-2.0, -1.0"
    teacher = next(line for line in lines if line.startswith("| DistilPose vs its teacher"))
    assert "| 0 | not run |" in teacher  # no distilpose row anywhere


def test_cost_ratios_and_plateau_gain() -> None:
    facts = {"teacher": {"gflops_one_pass": 0.3, "latency_ms": 12.0},
             "distilpose": {"gflops_one_pass": 0.1, "latency_ms": 4.0}}
    heading, _, line, _ = report.cost_ratios(facts)
    assert "**3.00×**" in line and line.count("**3.00×**") == 2
    assert heading.endswith("so are these):")
    assert report.cost_ratios({"distilpose": facts["distilpose"]}) == []  # no teacher measured: no section
    assert report.plateau_gain([0.1, 0.5, 0.6, 0.62, 0.63]) == pytest.approx(13.0)
    assert report.plateau_gain([0.1, 0.2]) is None


def test_students_start_in_the_order_named() -> None:
    names = [job.name for job in reproduce.students_in_order(["sdpose", "baseline", "sdpose", "dwpose-s1"])]
    assert names == ["sdpose", "baseline", "dwpose-s1"]
    assert [job.name for job in reproduce.students_in_order(None)] == [job.name for job in reproduce.STUDENTS]
    with pytest.raises(ValueError, match="unknown students"):
        reproduce.students_in_order(["sdpos"])


def test_the_stem_trained_regime_is_opt_in_and_never_reads_the_cache(tmp_path) -> None:
    default = reproduce.students_in_order(None)
    assert not any(job.finetune for job in default)
    chosen = reproduce.students_in_order(["sdpose-ft", "baseline-ft", "sdpose"])
    assert [(job.name, job.recipe, job.finetune) for job in chosen] == [
        ("sdpose-ft", "sdpose", True), ("baseline-ft", "baseline", True), ("sdpose", "sdpose", False)]
    assert reproduce.cache_for(chosen[0], tmp_path) is None and reproduce.cache_for(chosen[2], tmp_path) == tmp_path
    assert reproduce.cache_for(reproduce.TEACHERS[0], tmp_path) is None
    assert ("sdpose-ft", "baseline-ft") in [(run, ref) for _, run, ref in report.COMPARISONS]
    assert report.OPT_IN == tuple(job.name for job in reproduce.REGIME)
    # the per-seed time counts the default students only, however many seeds the opt-in rows have
    payload = _payload()
    payload["results"]["0"]["sdpose-ft"] = {"AP": 0.5, "seconds": 2000.0, "wall_seconds": 2000.0, "curve": [0.5]}
    names = ["baseline", "sdpose", "sdpose-ft"]
    assert report.job_time_per_seed(payload, names) == report.job_time_per_seed(_payload(), names[:2])


def test_each_report_draws_its_own_curves_picture() -> None:
    assert report.curves_name(Path("docs/RESULTS.md")) == "learning_curves.png"
    assert report.curves_name(Path("docs/RESULTS_plateau24.md")) == "learning_curves_plateau24.png"


def test_report_of_a_subset_run_whose_seeds_hold_different_students(tmp_path, monkeypatch) -> None:
    def facts(row: dict) -> dict:
        return {"name": "synth-student", "params_m": 1.0, "gflops_one_pass": 0.1, "latency_ms": 5.0,
                "latency_all_cycles_ms": 9.0}
    monkeypatch.setattr(report, "model_facts", facts)
    payload = _payload()
    payload["results"] = {"foundation": {}, "0": {"baseline": payload["results"]["0"]["baseline"]},
                          "1": payload["results"]["1"]}  # seed 0 has no sdpose: a run killed part-way
    payload.update(budget={"difficulty": "easy", "train_num": 10, "val_num": 5, "heldout_num": 5,
                           "augment": "flip", "lr": 0.003, "batch_size": 4, "epochs": {},
                           "default_epochs": 24, "student_steps": 3}, commands=["python benchmarks/reproduce.py"])
    for seed_rows in payload["results"].values():
        for row in seed_rows.values():
            row.update({"checkpoint": "x.pt", "heldout-easy": 0.7, "heldout-medium": 0.4, "steps_per_epoch": 3})
    text = report.write_results(payload, tmp_path / "RESULTS_subset.md")
    sdpose = next(line for line in text.splitlines() if line.startswith("| sdpose |"))
    assert "| 1 | 61.0 ± 0.0 | 61.0 |" in sdpose  # only seed 1 holds it
    assert "Teacher cost" not in text  # no teacher in a students-only run
    assert (tmp_path / "img" / "learning_curves_subset.png").is_file()
    # a first report already ends with the mark, so an analysis typed below it survives a rewrite
    report_path = tmp_path / "RESULTS_subset.md"
    assert report_path.read_text().rstrip().endswith(report.ANALYSIS_MARK)
    report_path.write_text(report_path.read_text() + "\n## What the numbers say\n\nhand-written\n")
    report.write_results(payload, report_path)
    assert report_path.read_text().count(report.ANALYSIS_MARK) == 1
    assert report_path.read_text().endswith("## What the numbers say\n\nhand-written\n")


def test_stage_two_data_merges_folders_and_stage_two_jobs_warm_start(tmp_path):
    """The teachers' second stage: one COCO folder holding every crop of the sets it merges (ids
    renumbered, images readable), and jobs that start from the first stage at their own schedule."""
    from curriculum import merge_coco_folders
    from sdpose_core.data.synthpose import generate_dataset
    from sdpose_core.data.topdown import CocoKeypointDataset

    parts = [generate_dataset(tmp_path / f"part{k}", num=3 + k, seed=40 + k, progress=False) for k in range(2)]
    merged = merge_coco_folders(tmp_path / "merged", parts)
    data = json.loads((merged / "annotations.json").read_text())
    assert len(data["images"]) == 7 and len({im["id"] for im in data["images"]}) == 7
    assert {a["image_id"] for a in data["annotations"]} == {im["id"] for im in data["images"]}
    dataset = CocoKeypointDataset(merged, (128, 96))
    assert len(dataset) == 7 and dataset[6]["image"].shape[-2:] == (128, 96)
    budget = reproduce.Budget()
    for job, first in zip(reproduce.STAGE2, reproduce.TEACHERS):
        assert (job.name, job.recipe, job.model, job.init, job.data) == (first.name, first.recipe, first.model,
                                                                         first.name, "stage2")
        assert (budget.epochs_of(job), budget.steps_of(job), budget.lr_of(job)) == (10, 500, 1e-3)
        assert (budget.epochs_of(first), budget.steps_of(first), budget.lr_of(first)) == (16, None, 3e-3)


def test_foundation_seconds_adds_the_backbone_and_the_slower_teacher_of_each_stage():
    s1, s2 = report.stage_label(1), report.stage_label(2)
    rows = {"backbone": {"seconds": 100.0}, "teacher" + s1: {"seconds": 50.0},
            "simcc-teacher" + s1: {"seconds": 70.0}, "teacher": {"seconds": 30.0},
            "simcc-teacher": {"seconds": 20.0}}
    assert report.foundation_seconds(rows) == 200.0
    # a third stage for the heatmap teacher alone runs after both second stages
    three = {"backbone": {"seconds": 100.0}, "teacher" + s1: {"seconds": 50.0}, "simcc-teacher" + s1: {"seconds": 70.0},
             "teacher" + s2: {"seconds": 30.0}, "simcc-teacher": {"seconds": 20.0}, "teacher": {"seconds": 5.0}}
    assert [report.stage_of(name, three) for name in three if name != "backbone"] == [1, 1, 2, 2, 3]
    assert report.foundation_seconds(three) == 205.0
    one_stage = {"backbone": {"seconds": 100.0}, "teacher": {"seconds": 50.0}, "simcc-teacher": {"seconds": 70.0}}
    assert report.foundation_seconds(one_stage) == 170.0
    assert report.foundation_seconds({"backbone": {"seconds": 1.0}}) is None
    assert report.foundation_seconds({"teacher": {"seconds": 1.0}}) is None


def test_stage_three_puts_the_heatmap_head_on_the_simcc_teachers_second_stage_body():
    budget = reproduce.Budget()
    (job,) = reproduce.STAGE3
    assert (job.name, job.recipe, job.init, job.init_body, job.data) == ("teacher", "teacher", "teacher",
                                                                         "simcc-teacher", "stage2")
    assert (budget.epochs_of(job), budget.steps_of(job), budget.lr_of(job)) == (8, 500, 1e-3)
    assert job in reproduce.FOUNDATION and not any(s in reproduce.FOUNDATION for s in reproduce.STUDENTS)


def test_only_a_full_run_at_the_default_epochs_writes_the_projects_report(tmp_path):
    """A --quick or --student-epochs run (or its --report-only) writes OUT/RESULTS.md, never
    docs/RESULTS.md, unless --docs names it."""
    default = reproduce.Budget().default_epochs
    assert reproduce.default_docs(tmp_path, default, False) == reproduce.ROOT / "docs" / "RESULTS.md"
    assert reproduce.default_docs(tmp_path, default, True) == tmp_path / "RESULTS.md"
    assert reproduce.default_docs(tmp_path, 12, False) == tmp_path / "RESULTS.md"
    assert reproduce.default_docs(tmp_path, None, False) == tmp_path / "RESULTS.md"


def _saved(default_epochs: int, rows: dict, **budget) -> dict:
    """A payload the way reproduce.py saves it (benchmarks/results/*.json)."""
    base = {"difficulty": "easy", "train_num": 10, "val_num": 5, "heldout_num": 5, "augment": "flip", "lr": 0.003,
            "batch_size": 4, "epochs": {"backbone": 12}, "default_epochs": default_epochs, "student_steps": 3}
    return {"command": f"reproduce {default_epochs}", "budget": {**base, **budget}, "workers": 2,
            "seeds": sorted(int(s) for s in rows), "students_wall_s": 100.0,
            "results": {"foundation": {"teacher": {"AP": 0.7}}, **rows}}


def test_merged_payloads_keep_each_runs_length_and_refuse_clashes() -> None:
    long = _saved(24, {"0": {"baseline": {"AP": 0.6}}, "1": {"baseline": {"AP": 0.62}}})
    short = _saved(16, {"0": {"baseline-ft": {"AP": 0.65}}, "2": {"sdpose-ft": {"AP": 0.64}}})
    merged = report.merge_payloads([long, short])
    assert merged["results"]["0"] == {"baseline": {"AP": 0.6}, "baseline-ft": {"AP": 0.65}}
    assert merged["results"]["2"] == {"sdpose-ft": {"AP": 0.64}}
    assert merged["budget"]["epochs"] == {"backbone": 12, "baseline-ft": 16, "sdpose-ft": 16}
    assert merged["budget"]["default_epochs"] == 24 and merged["seeds"] == [0, 1, 2]
    assert merged["commands"] == ["reproduce 24", "reproduce 16"] and merged["students_wall_s"] == 200.0
    assert "baseline-ft" not in long["results"]["0"]  # the inputs are not changed
    with pytest.raises(ValueError, match=r"\['baseline'\] are in two"):
        report.merge_payloads([long, _saved(24, {"1": {"baseline": {"AP": 0.5}}})])
    with pytest.raises(ValueError, match="different \\['lr'\\]"):
        report.merge_payloads([long, _saved(16, {"0": {"sdpose-ft": {}}}, lr=0.001)])
    with pytest.raises(ValueError, match="baseline trained 24 epochs in one payload and 12"):
        report.merge_payloads([long, _saved(12, {"2": {"baseline": {"AP": 0.5}}})])  # would pool two lengths
    retrained = _saved(16, {"2": {"sdpose-ft": {}}})
    retrained["results"]["foundation"] = {"backbone": {}, "teacher": {}}
    with pytest.raises(ValueError, match="its own foundation"):
        report.merge_payloads([long, retrained])


def test_report_from_a_saved_payload_whose_runs_folder_is_gone(tmp_path) -> None:
    """--report-only --payload: rows name their zoo model; facts come from it, the 2-cycle rows are kept."""
    from sdpose_core.models.zoo import describe_model, get_config

    row = {"AP": 0.6, "checkpoint": str(tmp_path / "gone" / "model.pt")}
    saved = _saved(24, {"0": {"sdpose": dict(row), "sdpose (2 cycles)": dict(row, AP=0.59), "mgd": dict(row)},
                        "1": {"teacher (stage 1)": dict(row)}})
    path = tmp_path / "payload.json"
    path.write_text(json.dumps(saved))
    payload = reproduce.saved_payload(tmp_path, [path])
    models = {name: r["model"] for rows in payload["results"].values() for name, r in rows.items()}
    assert models == {"teacher": "synth-teacher", "sdpose": "synth-student", "sdpose (2 cycles)": "synth-student",
                      "mgd": "synth-simcc", "teacher (stage 1)": "synth-teacher"}
    results = {0: payload["results"]["0"]}
    reproduce.add_two_cycle_rows(results, [0], lambda: pytest.fail("no set is needed: nothing to compute"))
    assert results[0]["sdpose (2 cycles)"]["AP"] == 0.59
    facts = report.model_facts(payload["results"]["0"]["mgd"])
    assert facts["params_m"] == pytest.approx(describe_model(get_config("synth-simcc"))["params_m"])
    assert facts["latency_ms"] > 0
    with pytest.raises(FileNotFoundError, match="names no zoo model"):
        report.model_facts(row)
    with pytest.raises(FileNotFoundError, match="no 2-cycle row"):
        reproduce.add_two_cycle_rows({0: {"sdpose": row}}, [0], dict)


def test_report_only_from_payload_files_through_the_command_line(tmp_path, monkeypatch) -> None:
    def facts(row: dict) -> dict:
        return {"name": row["model"], "params_m": 1.0, "gflops_one_pass": 0.1, "latency_ms": 5.0,
                "latency_all_cycles_ms": 9.0}

    def row(ap: float) -> dict:
        return {"AP": ap, "seconds": 60.0, "curve": [0.1, 0.3, ap - 0.01, ap], "steps_per_epoch": 3,
                "heldout-easy": 0.7, "heldout-medium": 0.4, "checkpoint": str(tmp_path / "gone.pt")}

    monkeypatch.setattr(report, "model_facts", facts)
    monkeypatch.setattr(reproduce, "make_data", lambda *a: pytest.fail("a saved payload needs no data"))
    plateau = _saved(24, {"0": {"sdpose": row(0.60), "sdpose (2 cycles)": row(0.60), "baseline": row(0.61)}})
    regime = _saved(16, {"0": {"baseline-ft": row(0.64), "sdpose-ft": row(0.66)}})
    plateau["results"]["foundation"] = {"teacher": row(0.79)}
    regime["results"]["foundation"] = {}  # a students-only run read the bundled teachers
    paths = [tmp_path / "plateau.json", tmp_path / "regime.json"]
    for path, payload in zip(paths, (plateau, regime)):
        path.write_text(json.dumps(payload))
    docs = tmp_path / "RESULTS.md"
    reproduce.main(["--report-only", "--payload", *map(str, paths), "--out", str(tmp_path / "out"), "--docs", str(docs)])
    text = docs.read_text()
    assert "'baseline-ft': 16, 'sdpose-ft': 16}, others 24" in text
    claim = next(line for line in text.splitlines() if "stem fine-tuned too" in line)
    assert "paper's regime), 16 epochs |" in claim
    assert "| 1 | 66.0 | 64.0 | +2.0 ± 0.0 | +2.0 |" in claim
    assert "| sdpose-ft | synth-student |" in text
    assert "Time: the 2 students of one seed take **1.0 min**" in text  # the -ft rows are opt-in, timed apart
    with pytest.raises(SystemExit):  # --payload alone would start a training run
        reproduce.main(["--payload", str(paths[0])])
    with pytest.raises(SystemExit, match="no such file"):
        reproduce.main(["--report-only", "--payload", str(tmp_path / "nope.json")])
