"""The notebooks' helpers: sdpose_core.lessons (data), sdpose_core.train.in_memory (training) and
sdpose_core.viz.teaching (figures)."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from sdpose_core import lessons as T
from sdpose_core.data.coco_meta import FLIP_INDEX, KEYPOINT_NAMES
from sdpose_core.data.synthpose import generate_dataset
from sdpose_core.distill import stage1_decay
from sdpose_core.interpret import tokens
from sdpose_core.io.checkpoint import save_model
from sdpose_core.models.zoo import build_model
from sdpose_core.train import in_memory as M
from sdpose_core.train.objectives import HeatmapObjective
from sdpose_core.viz import teaching as V

K = len(KEYPOINT_NAMES)


@pytest.fixture(scope="module")
def tiny_set(tmp_path_factory):
    return generate_dataset(tmp_path_factory.mktemp("synth") / "train", num=12, seed=3, difficulty="easy",
                            progress=False)


def test_lesson_model_says_untrained_when_no_checkpoint(tmp_path):
    lesson = T.load_lesson_model("synth-student", checkpoint_dir=tmp_path)
    assert not lesson.trained and "untrained weights" in lesson.note and str(tmp_path) in lesson.source
    again = T.load_lesson_model("synth-student", checkpoint_dir=tmp_path)
    for a, b in zip(lesson.model.state_dict().values(), again.model.state_dict().values()):
        assert torch.equal(a, b)  # seeded: the same random weights every time
    assert not lesson.model.training


def test_lesson_model_loads_a_checkpoint_and_flags_a_broken_one(tmp_path):
    torch.manual_seed(5)
    model = build_model("synth-regression")
    save_model(model, tmp_path / "synth-regression.pt")
    lesson = T.load_lesson_model("synth-regression", checkpoint_dir=tmp_path)
    assert lesson.trained and "trained checkpoint" in lesson.note
    mine, theirs = lesson.model.state_dict(), model.state_dict()
    assert mine.keys() == theirs.keys() and all(torch.equal(mine[k], theirs[k]) for k in mine)
    (tmp_path / "synth-teacher.pt").write_bytes(b"not a checkpoint")
    broken = T.load_lesson_model("synth-teacher", checkpoint_dir=tmp_path)
    assert not broken.trained and "could not load" in broken.source


def test_lesson_note_reports_the_manifest_metrics_and_calls_weak_models_weak(tmp_path):
    torch.manual_seed(5)
    save_model(build_model("synth-regression"), tmp_path / "synth-regression.pt")
    save_model(build_model("synth-teacher"), tmp_path / "synth-teacher.pt")
    assert T.load_lesson_model("synth-regression", checkpoint_dir=tmp_path).metrics is None  # no manifest
    (tmp_path / "manifest.json").write_text(json.dumps([
        {"name": "synth-regression", "AP": 0.0011, "PCK": 0.83},
        {"name": "synth-teacher", "AP": 0.71, "PCK": 0.97},
        {"name": "distilpose", "AP": 0.5}]))
    weak = T.load_lesson_model("synth-regression", checkpoint_dir=tmp_path)
    assert weak.metrics == {"AP": 0.0011, "PCK": 0.83}
    assert "AP 0.1 (×100), PCK@0.2 0.830" in weak.note and "weak model" in weak.note
    strong = T.load_lesson_model("synth-teacher", checkpoint_dir=tmp_path)
    assert "AP 71.0 (×100)" in strong.note and "weak" not in strong.note
    assert T.checkpoint_metrics("synth-simcc", tmp_path) is None
    (tmp_path / "manifest.json").write_text("{broken")
    assert T.checkpoint_metrics("synth-teacher", tmp_path) is None


def test_model_geometry_matches_what_the_model_produces():
    model = build_model("synth-student").eval()
    geo = T.model_geometry(model)
    h, w = geo["input_size"]
    with torch.no_grad():
        out = model(torch.zeros(1, 3, h, w), cycles=geo["cycles"], return_attention=True)
    gh, gw = geo["grid_size"]
    assert out[0].visual_tokens.shape[1] == gh * gw == geo["num_patches"]
    assert out[0].keypoint_tokens.shape[-1] == geo["dim"] and len(out) == geo["cycles"]
    assert out[0].attention[0].shape[1:] == (geo["heads"], geo["tokens"], geo["tokens"])
    assert len(out[0].attention) == geo["depth"]
    assert geo["patch_pixels"] == (h / gh, w / gw)
    assert "grid_size" not in T.model_geometry(build_model("synth-cnn-teacher"))


def test_examples_hide_unlabelled_keypoints():
    examples = T.load_examples(count=3)
    assert len(examples) == 3
    for ex in examples:
        assert ex.image.ndim == 3 and ex.bbox.shape == (4,) and ex.keypoints.shape == (K, 3)
        xy = ex.label_xy()
        assert np.isnan(xy[ex.keypoints[:, 2] <= 0]).all() and np.isfinite(xy[ex.keypoints[:, 2] > 0]).all()
        assert ex.label_visible().sum() == (ex.keypoints[:, 2] > 0).sum()


def test_live_train_is_seeded_records_terms_and_keeps_frozen_parts(tiny_set):
    def run():
        torch.manual_seed(0)
        model = build_model("synth-student")
        model.backbone.requires_grad_(False)
        before = {k: v.clone() for k, v in model.backbone.state_dict().items()}
        log = M.live_train(model, HeatmapObjective(token_weight=5e-6), tiny_set, epochs=2, steps_per_epoch=2,
                           batch_size=4, on_epoch=lambda e, m: e * 10)
        return model, before, log

    model, before, log = run()
    assert len(log.steps) == 4 and log.epochs == [0, 10] and log.seconds > 0
    assert {"heatmap_loss", "kpt_dist_loss", "vis_dist_loss", "total", "step", "epoch"} <= set(log.steps[0])
    assert [s["epoch"] for s in log.steps] == [0, 0, 1, 1]
    assert np.isfinite(log.series("total")).all()
    for k, v in model.backbone.state_dict().items():  # frozen weights and BN statistics unchanged
        assert torch.equal(v, before[k]), k
    _, _, again = run()
    assert again.series("total").tolist() == log.series("total").tolist()
    with pytest.raises(ValueError):
        M.live_train(model, HeatmapObjective(), tiny_set, steps_per_epoch=0)


def test_fresh_student_without_and_with_a_bundled_backbone(tmp_path):
    student, note = M.fresh_student("sdpose", checkpoint_dir=tmp_path)
    assert student.config.cycle_num >= 2 and "random init" in note
    assert all(p.requires_grad for p in student.parameters())
    twin, _ = M.fresh_student("sdpose", checkpoint_dir=tmp_path)
    assert all(torch.equal(a, b) for a, b in zip(student.state_dict().values(), twin.state_dict().values()))
    from sdpose_core.io.checkpoint import save_backbone

    torch.manual_seed(9)
    donor = build_model("synth-student")
    save_backbone(donor, tmp_path / "backbone.pt")  # the bundle's shared, float16 backbone file
    loaded, note = M.fresh_student("sdpose", checkpoint_dir=tmp_path)
    assert "loaded and frozen" in note and not any(p.requires_grad for p in loaded.backbone.parameters())
    assert any(p.requires_grad for p in loaded.encoder.parameters())
    for k, v in loaded.backbone.state_dict().items():
        want = donor.backbone.state_dict()[k]
        assert v.dtype == want.dtype and torch.allclose(v.float(), want.half().float()), k


def test_frozen_copy_and_token_helpers():
    model = build_model("synth-student")
    frozen = M.frozen_copy(model)
    assert not frozen.training and not any(p.requires_grad for p in frozen.parameters())
    assert any(p.requires_grad for p in model.parameters())
    images = torch.zeros(2, 3, *model.config.input_size)
    gap = tokens.cycle_token_gap(model, images)
    assert gap.shape == (model.config.cycle_num - 1,) and (gap >= -1e-6).all()
    a = torch.randn(5, 8)
    assert np.allclose(tokens.per_token_mse(a, a), 0)
    assert np.allclose(tokens.per_token_mse(a, a + 2), 4)
    with pytest.raises(ValueError):
        tokens.per_token_mse(a, torch.zeros(4, 8))


def test_swap_left_right_and_case_ranking():
    pts = np.arange(K * 2, dtype=float).reshape(K, 2)
    swapped = T.swap_left_right(pts)
    assert np.array_equal(swapped[1], pts[2]) and np.array_equal(swapped[0], pts[0])
    assert np.array_equal(T.swap_left_right(swapped), pts)
    assert list(np.asarray(FLIP_INDEX)[list(FLIP_INDEX)]) == list(range(K))
    model = build_model("synth-student").eval()
    cases = T.rank_cases(model, T.SAMPLES_DIR)
    oks = [c.oks for c in cases]
    assert oks == sorted(oks) and len(cases) > 0
    c = cases[0]
    assert c.keypoints.shape == (K, 2) and c.errors.shape == (K,) and isinstance(c.summary(), str)
    assert np.isnan(c.errors[~c.visible]).all()
    assert c.swapped == (c.oks_swapped > c.oks + 0.1)


def test_occlude_and_results_and_simcc_probabilities(tmp_path):
    img = np.zeros((20, 30, 3), np.uint8)
    out = T.occlude(img, (5, 5), 4, value=200)
    assert img.max() == 0 and (out[3:7, 3:7] == 200).all() and out.sum() == 200 * 16 * 3
    assert T.occlude(img, (-50, -50), 4).max() == 0  # entirely outside: nothing painted
    assert T.read_results(tmp_path / "RESULTS.md") is None
    (tmp_path / "RESULTS.md").write_text("| a |\n")
    assert T.read_results(tmp_path / "RESULTS.md") == "| a |\n"
    logits = torch.randn(3, 7)
    p = T.simcc_probabilities(logits, beta=10)
    assert p.shape == (3, 7) and np.allclose(p.sum(-1), 1, atol=1e-6)
    assert (T.simcc_probabilities(logits, 50).max(-1) >= p.max(-1) - 1e-6).all()  # larger beta: sharper



RESULTS_TEXT = """# Results

| run | model | AP |
|---|---|---:|
| teacher | synth-teacher | 8.0 |
| simcc | synth-simcc | 7.3 |
| nkd | synth-simcc | 9.2 |

## Targets

| target | met |
|---|---|
| nkd above simcc | yes |
"""


def test_results_rows_keeps_the_header_and_the_asked_rows_in_order():
    table = T.results_rows(RESULTS_TEXT, ["nkd", "mgd", "simcc"])
    assert table.splitlines() == ["| run | model | AP |", "|---|---|---:|",
                                  "| nkd | synth-simcc | 9.2 |", "| simcc | synth-simcc | 7.3 |"]
    assert T.results_rows(RESULTS_TEXT, ["mgd"]) is None
    assert T.results_rows("# nothing measured yet\n", ["nkd"]) is None


def test_family_loss_terms_are_the_recipes_objectives_seeded_and_leave_the_models_alone(tiny_set):
    from sdpose_core.data.topdown import CocoKeypointDataset, collate
    from sdpose_core.data.codecs import codec_for
    from sdpose_core.train.targets import CodecTargets

    torch.manual_seed(0)
    student, teacher = build_model("synth-simcc").eval(), build_model("synth-simcc-teacher").eval()
    data = CocoKeypointDataset(tiny_set, student.config.input_size, target_fn=CodecTargets(codec_for(student.config)))
    batch = collate([data[i] for i in range(2)])
    before = {k: v.clone() for k, v in student.state_dict().items()}
    terms = M.family_loss_terms(student, teacher, batch)
    assert list(terms) == list(M.FAMILY)
    assert set(terms["nkd"]) == {"loss_kpt", "loss_nkd_target", "loss_nkd_non_target", "loss_nkd", "total"}
    assert set(terms["tf-nkd"]) == {"loss_kpt", "loss_tf_nkd", "total"}
    assert set(terms["vitkd"]) == {"loss_kpt", "loss_vitkd_mimic", "loss_vitkd_gen", "loss_vitkd", "total"}
    assert set(terms["mgd"]) == {"loss_kpt", "loss_mgd", "total"}
    gt = terms["nkd"]["loss_kpt"]
    for name, kd in (("nkd", "loss_nkd"), ("tf-nkd", "loss_tf_nkd"), ("vitkd", "loss_vitkd"), ("mgd", "loss_mgd")):
        assert terms[name]["loss_kpt"] == pytest.approx(gt)  # same student, same batch: same GT loss
        assert terms[name]["total"] == pytest.approx(gt + terms[name][kd], rel=1e-5)
        assert all(np.isfinite(v) for v in terms[name].values())
    assert terms["nkd"]["loss_nkd"] == pytest.approx(terms["nkd"]["loss_nkd_target"] + terms["nkd"]["loss_nkd_non_target"])
    assert M.family_loss_terms(student, teacher, batch, recipes=("vitkd", "mgd")) == \
        {k: terms[k] for k in ("vitkd", "mgd")}  # seeded masks and generation blocks
    assert M.family_loss_terms(student, None, batch, recipes=("tf-nkd",))["tf-nkd"] == terms["tf-nkd"]
    assert all(p.requires_grad for p in teacher.parameters())  # frozen copies, not the teacher itself
    assert all(torch.equal(v, before[k]) for k, v in student.state_dict().items())
    assert all(p.grad is None for p in student.parameters())


def test_figures_have_the_expected_pieces():
    crop = np.zeros((128, 96, 3), np.uint8)
    fig = V.patch_grid_figure(crop, (8, 6), highlight=7)
    assert len(fig.layout.shapes) == (8 + 1) + (6 + 1) + 1 and "token 24" in fig.layout.title.text
    pos = np.random.default_rng(0).normal(size=(48, 16))
    fig = V.position_similarity_figure(pos, (8, 6), patch=13)
    sim = np.asarray(fig.data[1].z)
    assert sim.shape == (8, 6) and np.isclose(sim[2, 1], 1.0) and np.isclose(sim.max(), 1.0)
    fig = V.token_similarity_figure(np.random.default_rng(1).normal(size=(K, 8)))
    assert np.allclose(np.diag(np.asarray(fig.data[0].z)), 1.0)
    steps = [{"step": i, "total": 1.0 / (i + 1), "x": 2.0} for i in range(10)]
    fig = V.loss_curves_figure({"a": steps, "b": steps[:5]}, keys=("total", "x"), smooth=2)
    assert len(fig.data) == 4 and len(fig.data[0].x) == 9 and fig.layout.yaxis.type == "log"
    fig = V.simcc_axes_figure({"label": np.ones(10), "student": np.ones(10)}, {"label": np.ones(12), "student": np.ones(12)},
                              2.0, marks={"label": (1.0, 2.0)})
    assert len(fig.data) == 4 and len(fig.layout.shapes) == 2 and fig.layout.shapes[0].x0 == 2.0
    epochs = list(range(5))
    fig = V.decay_schedule_figure(epochs, [stage1_decay(e, 5) for e in epochs], current=4)
    assert list(fig.data[0].y) == pytest.approx([1.0, 0.8, 0.6, 0.4, 0.2]) and fig.data[1].y[0] == pytest.approx(0.2)
    fig = V.keypoint_bars_figure({"t": np.ones(K), "s": np.zeros(K)}, "px", occluded=np.arange(K) == 3)
    assert len(fig.data) == 2 and fig.data[0].x[3].endswith("(occl.)")
    fig = V.overlay_figure(crop, [np.ones((128, 96)), np.zeros((8, 6))], ["a", "b"], points=[np.array([5, 5]), None])
    assert len(fig.data) == 5 and fig.data[4].dx == 16 and fig.data[1].dx == 1
    fig = V.loss_terms_figure({"nkd": {"loss_kpt": 0.5, "loss_nkd": 20.0, "total": 20.5},
                               "mgd": {"loss_kpt": 0.5, "loss_mgd": 1e-3, "total": 0.501}})
    assert len(fig.data) == 2 and fig.layout.yaxis.type == "log" and not fig.layout.showlegend
    assert [list(level) for level in fig.data[0].x] == [["nkd", "nkd"], ["loss_kpt", "loss_nkd"]]
    assert list(fig.data[1].y) == [0.5, 1e-3]
    assert len(V.loss_terms_figure({"a": {"total": 1.0, "x": 2.0}}, skip=(), log_y=False).data[0].y) == 2
    assert V.use_notebook_renderer() == "plotly_mimetype"


def test_examples_carry_the_annotated_area_as_the_oks_scale(tmp_path):
    """The notebooks' OKS agreement uses the label's person area (COCO's convention), not the box."""
    folder = generate_dataset(tmp_path / "s", num=3, seed=5, progress=False)
    annotations = json.loads((folder / "annotations.json").read_text())
    areas = [a["area"] for a in annotations["annotations"]]
    examples = T.load_examples(folder)
    assert [e.area for e in examples] == pytest.approx(areas)
    assert all(e.area < e.bbox[2] * e.bbox[3] for e in examples)
    annotations["annotations"][0].pop("area")  # an annotation without one: no area, not a guess
    (folder / "annotations.json").write_text(json.dumps(annotations))
    assert T.load_examples(folder)[0].area is None


def test_interact_redraws_by_setting_the_output_widget_state():
    """viz.teaching.interact shows each drawing as an Output widget whose ``outputs`` the kernel sets
    (no capture: msg_id stays empty) with the first drawing's own bundle beside the widget view, and
    a moved control replaces those outputs; a draw that raises shows why in its place."""
    widgets = pytest.importorskip("ipywidgets")
    from unittest import mock
    shown = []

    def draw(n):
        if n == 3:
            raise ValueError("no three")
        return f"n = {n}", f"twice {2 * n}"

    slider = widgets.IntSlider(min=0, max=5, value=1)
    with mock.patch("IPython.display.display", lambda item: shown.append(item)):
        V.interact(draw, n=slider)
    assert isinstance(shown[0], widgets.VBox) and slider.description == "n"
    first, second = shown[1:]
    data, _ = first._repr_mimebundle_()
    assert data["text/plain"] == "'n = 1'" and "application/vnd.jupyter.widget-view+json" in data
    assert data["application/vnd.jupyter.widget-view+json"]["model_id"] == first.view.model_id

    def texts(drawing):
        return [o["data"].get("text/markdown", o["data"]["text/plain"]) for o in drawing.view.outputs]

    assert texts(first) == ["'n = 1'"] and texts(second) == ["'twice 2'"]
    slider.value = 4
    assert texts(first) == ["'n = 4'"] and texts(second) == ["'twice 8'"]
    slider.value = 3
    assert "could not draw" in texts(first)[0] and "no three" in texts(second)[0]


def test_interact_keeps_a_plotly_figure_inside_its_drawing():
    """A plotly figure displays itself through ``_ipython_display_``; interact must put its bundle in
    the drawing's widget and its fallback, not publish it beside them."""
    widgets = pytest.importorskip("ipywidgets")
    import plotly.graph_objects as go
    from unittest import mock
    V.use_notebook_renderer()
    shown = []
    with mock.patch("IPython.display.display", lambda item: shown.append(item)):
        V.interact(lambda n: go.Figure(go.Scatter(x=[0, n], y=[0, 1])), n=widgets.IntSlider(value=2))
    data, _ = shown[1]._repr_mimebundle_()
    assert data["application/vnd.plotly.v1+json"]["data"][0]["x"] == [0, 2]
    assert shown[1].view.outputs[0]["data"]["application/vnd.plotly.v1+json"]["data"][0]["x"] == [0, 2]


def test_a_drawing_without_a_bundle_keeps_the_widgets_own_fallback():
    """An item no formatter can show still displays as the widget (with its text/plain), not as nothing."""
    pytest.importorskip("ipywidgets")

    class Blank:
        def _repr_mimebundle_(self, include=None, exclude=None):
            return {}

        def __repr__(self):
            return ""

    drawing = V.LiveDrawing(Blank())
    data, _ = drawing._repr_mimebundle_()
    assert data["text/plain"].startswith("Output(") and "application/vnd.jupyter.widget-view+json" in data
