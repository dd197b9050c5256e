"""The snapshot selector: a (run, snapshot) pick replaces the student of Compare, Token attention,
Heatmaps and Attribution, every figure names it, snapshot models come from an LRU cache, and bad
picks give a message instead of a traceback."""
from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("gradio")
pytest.importorskip("plotly")

from explorer.inputs import examples  # noqa: E402
from explorer.models import CHECKPOINT_DIR, ModelSet  # noqa: E402
from explorer.selector import Follower, last_label, pick_run, redraw  # noqa: E402
from explorer.snapshots import FINAL, SnapshotModels, thin, use_snapshot  # noqa: E402
from explorer.tabs import attention, attribution, compare, heatmaps  # noqa: E402
from sdpose_core.viz.common import image_pixels, image_trace  # noqa: E402

DISTILPOSE = CHECKPOINT_DIR / "distilpose"  # bundled history: epoch 1 (collapsed) ... the last epoch
SDPOSE = CHECKPOINT_DIR / "sdpose"
# the bundled snapshots (benchmarks/bundle_checkpoints.py: around the jump, the first and the last two)
LABELS = [f"epoch {int(p.stem.split('_')[-1]) + 1}" for p in sorted((DISTILPOSE / "history").glob("epoch_*.pt"))]
BEFORE, AFTER = (LABELS[0], LABELS[-1]) if LABELS else ("epoch 1", "epoch 2")
MIDDLE = LABELS[1] if len(LABELS) > 2 else "epoch 2"  # a snapshot that is neither the first nor the last
SDPOSE_MIDDLE = next((f"epoch {int(p.stem.split('_')[-1]) + 1}" for p in sorted((SDPOSE / "history").glob("epoch_*.pt"))[1:2]),
                     "epoch 2")


def _val_ap(run, label: str) -> float:
    """The val AP the bundled run's metrics.jsonl records for the snapshot ``label`` ("epoch N")."""
    epoch = int(label.split()[-1]) - 1
    return next(json.loads(line)["AP"] for line in (run / "metrics.jsonl").read_text().splitlines()
                if json.loads(line)["epoch"] == epoch)


@pytest.fixture(scope="module")
def models() -> ModelSet:
    if not (DISTILPOSE / "history").is_dir():
        pytest.skip("the bundled snapshot histories are missing")
    out = ModelSet.load(warmup=False)
    out.runs = [DISTILPOSE, SDPOSE]
    return out


@pytest.fixture(scope="module")
def example() -> tuple[str, str]:
    return tuple(examples()[0])


def _titles(figures) -> list[str]:
    return [fig.layout.title.text or "" for fig in figures]


def _markers(fig) -> np.ndarray:
    return np.concatenate([np.c_[t.x, t.y] for t in fig.data if t.type == "scatter" and t.name.endswith("keypoints")])


def test_compare_follows_the_snapshot(models, example):
    run = str(DISTILPOSE)
    before = compare.compare(models, *example, "distilpose", "teacher", None, run, BEFORE)
    after = compare.compare(models, *example, "distilpose", "teacher", None, run, AFTER)
    final = compare.compare(models, *example, "distilpose", "teacher", None, FINAL, None)
    for (overlay, bars, summary), label in ((before, BEFORE), (after, AFTER)):
        assert all(f"distilpose run, {label}" in t for t in _titles([overlay, bars]))
        assert f"distilpose · {label}" in summary  # the student's label names the snapshot
    assert _titles(final[:2]) == ["", ""] and "snapshot" not in final[2]
    assert not np.allclose(_markers(before[0]), _markers(after[0]))  # the student moved
    t_before, t_after = (np.asarray(o[0].data[2].x) for o in (before, after))  # teacher's panel: unchanged
    assert np.allclose(t_before, t_after)
    # epoch 1 is the collapsed snapshot (docs/explorer.md), the last one is past the jump
    assert "barely depends on the input" in before[2] and "barely depends on the input" not in after[2]


def test_attention_heatmaps_attribution_follow_the_snapshot(models, example):
    run = str(DISTILPOSE)
    outs = {}
    for label in (BEFORE, AFTER):
        att = attention.attention(models, *example, "student", 1, -1, "mean", "left_wrist", run, label)
        hm = heatmaps.heatmaps(models, *example, "left_wrist", run, label)
        attr = attribution.attribution(models, *example, "student", "left_wrist", "saliency", run, label)
        for figs, text in ((att[:3], att[3]), (hm[:2], hm[2]), (attr[:1], attr[1])):
            assert all(f"distilpose run, {label}" in t for t in _titles(figs)), text
            assert label in text
        outs[label] = (att, hm, attr)
    (a0, h0, r0), (a1, h1, r1) = outs[BEFORE], outs[AFTER]
    assert not np.allclose(a0[0].data[1].z, a1[0].data[1].z)  # the attention map of the snapshot
    simulated = [next(t.z for t in h[0].data if t.name == "panel 2") for h in (h0, h1)]
    assert not np.allclose(*simulated)  # the snapshot's simulated heatmap
    assert h0[3] is h1[3]  # the teacher's heatmap grid is drawn once (memo), not per snapshot
    assert np.allclose(r0[0].data[1].z, r1[0].data[1].z)  # the teacher's attribution is the same
    assert not np.allclose(r0[0].data[4].z, r1[0].data[4].z)  # the snapshot's is not


def test_snapshot_models_come_from_the_cache(models):
    run = str(DISTILPOSE)
    first = models.snapshots.get(run, MIDDLE)
    loads = models.snapshots.loads
    again = models.snapshots.get(run, MIDDLE)
    assert again is first and models.snapshots.loads == loads
    assert models.get(models.snapshots.key(run, MIDDLE)) is first
    assert first.label == f"distilpose · {MIDDLE}: synth-regression" and f"val AP ×100 {100 * _val_ap(DISTILPOSE, MIDDLE):.1f}" in first.note


def test_the_lru_drops_the_oldest_and_reloads_it(models):
    small = SnapshotModels(lambda: [DISTILPOSE], size=2)
    entries = small.entries(DISTILPOSE)  # loads all five, keeps the last two
    assert [e.label for e in entries] == LABELS
    loads = small.loads
    small.get(DISTILPOSE, AFTER)
    assert small.loads == loads  # kept
    small.get(DISTILPOSE, BEFORE)
    assert small.loads == loads + 1  # dropped, read again
    assert [e.ap is not None for e in entries] == [True] * 5


def test_bad_snapshot_or_run_gives_a_message(models, example):
    overlay, _, summary = compare.compare(models, *example, "student", "teacher", None, str(DISTILPOSE), "epoch 99")
    assert "has no snapshot 'epoch 99'" in summary and ", ".join(LABELS) in summary
    assert "epoch 99" in overlay.layout.annotations[0].text
    *_, notes = attention.attention(models, *example, "student", 1, -1, "mean", 0, "/no/such/run", "epoch 1")
    assert "no training run '/no/such/run'" in notes and str(DISTILPOSE) in notes
    *_, note = attribution.attribution(models, *example, "student", 0, "saliency", str(DISTILPOSE), None)
    assert "pick a snapshot of distilpose" in note
    # the Heatmaps tab needs a DistilPose (regression) student: an SDPose snapshot says so
    _, _, md, _ = heatmaps.heatmaps(models, *example, "left_wrist", "sdpose", SDPOSE_MIDDLE)
    assert f"sdpose run, {SDPOSE_MIDDLE}" in md and "heatmap head" in md


def test_use_snapshot_keeps_the_teacher_and_the_final_models(models):
    assert use_snapshot(models, "student", FINAL, MIDDLE) == ("student", "")
    assert use_snapshot(models, "teacher", str(DISTILPOSE), MIDDLE) == ("teacher", "")
    role, caption = use_snapshot(models, "student", "distilpose", MIDDLE)  # a run by its folder name
    assert role.startswith("snapshot:") and caption == f"snapshot: distilpose run, {MIDDLE} · val AP {_val_ap(DISTILPOSE, MIDDLE):.3f}"


def test_picking_a_run_offers_its_snapshots_and_picks_the_last(models):
    update = pick_run(models, str(DISTILPOSE))
    assert [v for _, v in update["choices"]] == LABELS
    assert update["choices"][1][0] == f"{MIDDLE} · AP {_val_ap(DISTILPOSE, MIDDLE):.3f}" and update["value"] is None
    assert last_label(models, str(DISTILPOSE)) == AFTER  # picked next: a new run always redraws
    update = pick_run(models, FINAL)
    assert update["visible"] is False and update["value"] is None
    update = pick_run(models, "/no/such/run")  # a warning, and the radio hidden: the final models
    assert update["visible"] is False
    assert len(thin(list(range(30)), 12)) == 12


def test_a_following_tab_redraws_only_when_it_shows_another_pick(models, example):
    """``redraw``: what a pick (tab in view) or showing a tab does: nothing before the tab was
    drawn, nothing when it already shows the pick or a run has no snapshot picked yet."""
    calls = []
    follower = Follower("compare", lambda *v: calls.append(v) or ("fig", "md"), [], ["a", "b"], None)
    run = str(DISTILPOSE)
    skip = lambda out: all(isinstance(o, dict) and o.get("__type__") == "update" and len(o) == 1  # noqa: E731
                           for o in out)
    assert skip(redraw(follower, [*example, run, MIDDLE], None))  # never drawn
    assert skip(redraw(follower, [*example, run, MIDDLE], (run, MIDDLE)))  # shows it already
    assert skip(redraw(follower, [*example, run, None], (FINAL, None)))  # run chosen, snapshot next
    assert redraw(follower, [*example, run, MIDDLE], (run, BEFORE)) == ("fig", "md", (run, MIDDLE))
    assert redraw(follower, [*example, FINAL, None], (run, BEFORE)) == ("fig", "md", (FINAL, None))
    assert len(calls) == 2


def test_image_traces_carry_a_png():
    image = np.random.default_rng(0).integers(0, 256, (7, 5, 3), dtype=np.uint8)
    trace = image_trace(image)
    assert trace.z is None and trace.source.startswith("data:image/png;base64,")
    assert np.array_equal(image_pixels(trace), image) and np.array_equal(image_pixels(trace.to_plotly_json()), image)


def test_endpoints_take_the_snapshot(models, example):
    """Served: /compare and /attribution take (run, snapshot) as their last inputs (left out: the
    final models); the selector's radio accepts the snapshot labels of every offered run."""
    gradio_client = pytest.importorskip("gradio_client")
    from explorer.serve import start_background

    demo, url = start_background(models)
    try:
        client = gradio_client.Client(url, verbose=False)
        image = gradio_client.handle_file(example[0])
        _, _, summary = client.predict(image, example[1], "distilpose", "teacher", "", str(DISTILPOSE), BEFORE,
                                       api_name="/compare")
        assert f"distilpose · {BEFORE}" in summary
        _, note = client.predict(image, example[1], "student", "nose", "saliency", "sdpose", SDPOSE_MIDDLE,
                                 api_name="/attribution")
        assert f"sdpose run, {SDPOSE_MIDDLE}" in note
        _, note = client.predict(image, example[1], "student", "nose", "saliency", api_name="/attribution")
        assert "snapshot" not in note
    finally:
        demo.close()
