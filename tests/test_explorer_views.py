"""Explorer views that must not mislead (issue 14, items 3-6), through the tab handlers, and every
endpoint of a served app on a real COCO photo with BlazePose as the teacher."""
from __future__ import annotations

import numpy as np
import pytest
import torch

pytest.importorskip("gradio")
pytest.importorskip("plotly")

from explorer.inputs import examples, parse_box, read_image  # noqa: E402
from explorer.models import LoadedModel, ModelSet  # noqa: E402
from explorer.tabs import attention, attribution, compare, heatmaps  # noqa: E402
from sdpose_core.evaluate.agreement import agreement  # noqa: E402
from sdpose_core.interpret import cycle_rollouts, keypoint_rollout_map, ratio_to_uniform  # noqa: E402
from sdpose_core.models.zoo import build_model  # noqa: E402
from test_view_numbers import ConstantRegression, NoGradModel  # noqa: E402

SKIER = ("000000000785.jpg", "280.79, 44.73, 218.7, 346.68")


@pytest.fixture(scope="module")
def models() -> ModelSet:
    torch.manual_seed(0)
    roles = {"teacher": NoGradModel(build_model("synth-teacher").eval()), "student": build_model("synth-student"),
             "distilpose": ConstantRegression()}
    return ModelSet({r: LoadedModel(r, m.eval(), "test", True) for r, m in roles.items()})


@pytest.fixture(scope="module")
def example() -> tuple[str, str]:
    return tuple(examples()[0])


def _heatmaps(fig) -> list:
    return [t for t in fig.data if t.type == "heatmap"]


def test_attribution_with_a_gradient_free_teacher_draws_the_student(models, example):
    pytest.importorskip("captum")
    fig, note = attribution.attribution(models, *example, "student", "left_wrist", "saliency")
    assert len(_heatmaps(fig)) == 1 and "student" in fig.layout.annotations[0].text
    assert "internal error" not in note
    assert "teacher: synth-teacher**: no map" in note and "no gradient with respect to its input" in note
    fig, note = attribution.attribution(models, *example, "student", "left_wrist", "occlusion")
    assert len(_heatmaps(fig)) == 2 and "no map" not in note  # occlusion needs no gradients


def test_compare_shows_the_mean_pose_reference_and_the_area(models, example):
    _, _, summary = compare.compare(models, *example, "distilpose")
    image = read_image(example[0])
    box = parse_box(example[1], image.shape[:2])
    t, s = (models.result(r, image, box).keypoints for r in ("teacher", "distilpose"))
    agree = agreement(t, s, box, image.shape[:2], 3392.0)  # the example's annotated area
    assert f"| distilpose: synth-regression | **{agree.oks:.3f}** | {agree.other_mean_pose:.3f} |" in summary
    assert f"| the mean pose in this box (reference) | {agree.reference_mean_pose:.3f} | 1 |" in summary
    assert agree.other_mean_pose == pytest.approx(1.0, abs=0.02)  # the constant student sits on the mean pose
    assert "annotated person area 3,392 px²" in summary
    _, _, typed = compare.compare(models, *example, "distilpose", "teacher", "1,000")
    assert "annotated person area 1,000 px²" in typed
    _, _, estimated = compare.compare(models, example[0], "", "distilpose")
    assert "estimated person area" in estimated and "(0.53 × box area 12,288 px²" in estimated  # 96 x 128
    assert "must be a positive number" in compare.compare(models, *example, "distilpose", "teacher", "-5")[-1]


def test_compare_and_heatmaps_flag_a_collapsed_student(models, example):
    _, _, summary = compare.compare(models, *example, "distilpose")
    assert "⚠️ **distilpose: synth-regression: output barely depends on the input**" in summary
    assert "σ barely depends on the input: (1.48, 0.16)" in summary
    assert "left and right keypoints coincide" in summary
    assert "student: synth-student: output" not in summary or "⚠️ **student" in summary
    *_, md, _ = heatmaps.heatmaps(models, *example, "left_wrist")
    assert "σ barely depends on the input: (1.48, 0.16)" in md


def test_attention_tab_draws_ratios_and_both_rollouts(models, example):
    top, cycles_fig, _, notes = attention.attention(models, *example, "student", 2, 3, "mean", "nose")
    titles = [a.text for a in top.layout.annotations]
    assert titles[1] == "rollout, cycle 2's layers only" and titles[2] == "rollout through cycles 1–2"
    image = read_image(example[0])
    res = models.result("student", image, parse_box(example[1], image.shape[:2]), attention=True)
    grid = models.get("student").model.config.grid_size
    within, cumulative = cycle_rollouts([o.attention for o in res.outputs], 2)
    heat = _heatmaps(top)
    for trace, rolled in zip(heat[1:], (within, cumulative)):
        expected = ratio_to_uniform(keypoint_rollout_map(rolled, 0, grid), grid[0] * grid[1])
        np.testing.assert_allclose(np.asarray(trace.customdata), expected, rtol=1e-6)
        np.testing.assert_allclose(np.asarray(trace.z), np.log2(expected), rtol=1e-6)
    assert all(-t.zmin == t.zmax >= 2.0 for t in heat + _heatmaps(cycles_fig))  # centred on ratio 1
    assert "ratio to uniform" in notes and "1/65" in notes


# ---- a served app, BlazePose as the teacher, a real COCO photo ------------------------------------
@pytest.fixture(scope="module")
def blazepose_app(tmp_path_factory, real_dir):
    pytest.importorskip("ai_edge_litert", reason="BlazePose needs the 'real' extra")
    gradio_client = pytest.importorskip("gradio_client")
    from sdpose_core.real import MissingExtraError, install_blazepose
    try:
        install_blazepose()
    except MissingExtraError as err:
        pytest.skip(f"BlazePose model file not available: {err}")
    from conftest import write_random_checkpoints
    from explorer.serve import start_background
    from sdpose_core.io.checkpoint import save_model
    from sdpose_core.train.run_dir import RunDir

    folder = write_random_checkpoints(tmp_path_factory.mktemp("ckpt"))
    run = RunDir(tmp_path_factory.mktemp("run"))
    save_model(build_model("synth-regression"), run.snapshot_path(0), epoch=0)
    run.log({"epoch": 0, "total": 0.5})
    models = ModelSet.load(folder, teacher="blazepose", warmup=False)
    models.runs = [run.root]
    demo, url = start_background(models)
    client = gradio_client.Client(url, verbose=False)
    yield client, gradio_client.handle_file(str(real_dir / "coco" / SKIER[0])), str(run.root), models
    if hasattr(client, "close"):
        client.close()
    demo.close()


def _texts(value) -> list[str]:
    values = value if isinstance(value, (list, tuple)) else [value]
    return [v if isinstance(v, str) else str(v.get("plot", "")) if isinstance(v, dict) else "" for v in values]


def test_every_endpoint_answers_with_blazepose_as_teacher(blazepose_app):
    client, photo, run, models = blazepose_app
    box = SKIER[1]
    calls = {
        "/compare": [(photo, box, s, "teacher", "27789.11") for s in ("student", "distilpose", "blazepose")],
        "/attention": [(photo, box, "student", 2, 3, "mean", "left_wrist")],
        "/heatmaps": [(photo, box, "left_wrist")],
        "/stages": [(photo, box, run)],
        "/attribution": [(photo, box, "student", "left_wrist", m) for m in ("saliency", "integrated_gradients",
                                                                          "occlusion")],
        "/live": [(photo, box, "teacher", "tiny CNN, heatmaps (fast)", 20, a) for a in ("", "27789.11")],
    }
    answers = {}
    for endpoint, arg_sets in calls.items():
        for args in arg_sets:
            out = client.predict(*args, api_name=endpoint)
            texts = _texts(out)
            assert not any("internal error" in t for t in texts), (endpoint, args, texts[-1][:300])
            answers.setdefault(endpoint, []).append("\n".join(texts))
    assert "the mean pose in this box (reference)" in answers["/compare"][0]
    assert "annotated person area 27,789 px²" in answers["/compare"][0]
    assert "teacher: blazepose**: no map" in answers["/attribution"][0]
    assert "no map" not in answers["/attribution"][2]
    assert "No token terms" in answers["/heatmaps"][0] and "has no tokens" in answers["/heatmaps"][0]
    # BlazePose's maps are 64x48, the student's σ is in its own 32x24 pixels: drawn in teacher pixels
    assert "teacher heatmap px" in answers["/heatmaps"][0] and "grid" in answers["/heatmaps"][0]
    for live, scale in zip(answers["/live"], ("estimated person area", "annotated person area 27,789 px²")):
        assert "done: step 20/20" in live and "| the mean pose in this box (reference) |" in live
        assert scale in live
    # the attention tab does not offer BlazePose (no tokens); asked directly, it says why
    no_tokens = attention.attention(models, str(photo["path"]), box, "teacher", 1, 0, "mean", "nose")[-1]
    assert "internal error" not in no_tokens and "no tokens and no attention" in no_tokens


def test_heatmaps_tab_draws_the_student_sigma_in_blazepose_pixels(blazepose_app):
    import re
    _, photo, _, models = blazepose_app
    panels, *_ = heatmaps.heatmaps(models, str(photo["path"]), SKIER[1], "left_wrist")
    title = panels.layout.title.text
    found = re.search(r"σ = \(([\d.]+), ([\d.]+)\) teacher heatmap px = \(([\d.]+), ([\d.]+)\) px of the "
                      r"student's 32×24 grid", title)
    assert found, title  # BlazePose's maps are 64×48: one student pixel is two teacher pixels
    teacher_px, student_px = np.array(found.groups()[:2], float), np.array(found.groups()[2:], float)
    np.testing.assert_allclose(teacher_px, 2 * student_px, atol=0.011)
    assert [len(t.z) for t in panels.data if t.type == "heatmap"][0] == 64
