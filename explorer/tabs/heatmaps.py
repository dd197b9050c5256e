"""Heatmaps tab: teacher heatmap vs the DistilPose student's simulated heatmap, σ, loss terms."""
from __future__ import annotations

import gradio as gr
import plotly.graph_objects as go

from sdpose_core.data.coco_meta import KEYPOINT_NAMES
from sdpose_core.interpret import distilpose_heatmap_view, left_right_difference
from sdpose_core.interpret.collapse import LIMITS
from sdpose_core.viz import heatmap_comparison_figure, loss_table_markdown, titled
from sdpose_core.viz.heatmaps import heatmap_grid_figure, sigma_overlay_figure

from ..inputs import parse_box, read_image
from ..models import ModelSet, image_key
from ..selector import SnapshotSelector, follow, selection_inputs
from ..snapshots import use_snapshot
from ..ui import guarded
from .attention import _keypoint_index
from .compare import collapse_markdown

OUTPUTS = ("plot", "plot", "md", "plot")


@guarded(*OUTPUTS)
def heatmaps(models: ModelSet, image_path, box_text: str | None, keypoint: int | str = 0, run: str | None = None,
             snapshot: str | None = None) -> tuple[go.Figure, go.Figure, str, go.Figure]:
    """Three heatmap panels for one keypoint, σ ellipses of every keypoint on the crop, loss table,
    and the teacher heatmaps of all keypoints as small multiples. ``run`` + ``snapshot``: a saved
    snapshot of a DistilPose (regression) run that replaces the student (``use_snapshot``)."""
    image = read_image(image_path)
    box = parse_box(box_text, image.shape[:2])
    s_role, caption = use_snapshot(models, "distilpose", run, snapshot)
    t_role = models.teacher_for(image)  # BlazePose on photos when installed
    teacher, student = models.get(t_role), models.get(s_role)
    head = getattr(student.model.config, "head", None)
    if head != "regression":
        raise ValueError(f"{caption or student.label}: this tab shows a DistilPose student's simulated heatmaps "
                         f"(x, y, σ of a regression head); this model has a {head} head. "
                         "Pick a DistilPose run in the snapshot selector, or the final models.")
    t_res, s_res = models.result(t_role, image, box), models.result(s_role, image, box)
    own_grid = student.model.config.out_heatmap_size  # the grid the student's σ is measured in
    view = distilpose_heatmap_view(s_res.outputs[0], t_res.outputs[0], student_heatmap_size=own_grid)
    k = _keypoint_index(keypoint)
    name = KEYPOINT_NAMES[k]
    panels = heatmap_comparison_figure(
        view.teacher[k], view.simulated[k], view.centers[k], view.sigma[k],
        title=f"{name}: σ = ({view.sigma[k, 0]:.2f}, {view.sigma[k, 1]:.2f}) teacher heatmap px"
              + _own_sigma(view, k, own_grid))
    overview = sigma_overlay_figure(s_res.crop, view.centers_in_crop(s_res.crop.shape[:2]),
                                    view.sigma_in_crop(s_res.crop.shape[:2]), highlight=k)
    extra = {f"{name}: student score (sigmoid)": f"{view.score[k]:.3f}",
             f"{name}: teacher heatmap at the student's point": f"{view.teacher_value[k]:.3f}",
             "teacher": teacher.label, "student": student.label}
    md = ("DistilPose loss terms for this image, without ground truth (so no `reg_loss`); "
          "official weights, all keypoints weighted 1.\n\n" + loss_table_markdown(view.losses, extra)
          + "\n\n" + "\n".join(_notes(view, teacher, student, t_res.outputs[0]))
          + "\n\n" + "\n".join(models.result_notes([t_role, s_role], image)))
    if caption:
        md = f"**{caption}** (the snapshot selector above replaces the student)\n\n" + md
    grid = models.memo(("heatmap-grid", t_role, image_key(image), None if box is None else tuple(box)),
                       lambda: heatmap_grid_figure(view.teacher, list(KEYPOINT_NAMES)))  # the teacher's alone
    return titled(panels, caption), titled(overview, caption), md, grid


def _own_sigma(view, k: int, own_grid) -> str:
    """The student's σ in its own heatmap pixels, when its grid differs from the teacher's."""
    if (view.sigma_scale == 1).all():
        return ""
    own = view.student_sigma[k]
    return f" = ({own[0]:.2f}, {own[1]:.2f}) px of the student's {own_grid[0]}×{own_grid[1]} grid"


def _notes(view, teacher, student, teacher_out) -> list[str]:
    """Why token terms are missing, and flags for maps or σ that do not follow the input."""
    lines = []
    if "kpt_dist_loss" not in view.losses:
        why = ("has no tokens (it runs outside PyTorch or is a CNN)" if teacher_out.keypoint_tokens is None
               else "has tokens of another shape than the student's")
        lines += [f"No token terms (`kpt_dist_loss`, `vis_dist_loss`): {teacher.label} {why}.", ""]
    limit = LIMITS["left_right_heatmaps"][0]
    for who, maps in ((teacher.label, view.teacher), (f"{student.label} (simulated)", view.simulated)):
        diff = left_right_difference(maps)
        if diff < limit:
            lines += [f"⚠️ **{who}: left and right heatmaps are nearly identical on this photo** (relative "
                      f"difference {diff:.2f}, 0 = identical): it cannot tell left from right here.", ""]
    return lines + collapse_markdown(student.label, student.model)


def build(models: ModelSet, image: gr.Image, box: gr.Textbox, selector: SnapshotSelector | None = None) -> None:
    """The tab's widgets and events (call inside a gr.Tab)."""
    with gr.Row():
        keypoint = gr.Dropdown(list(KEYPOINT_NAMES), value="left_wrist", label="keypoint")
        run = gr.Button("Show heatmaps", variant="primary")
    panels = gr.Plot(label="teacher vs simulated heatmap (heatmap pixels; rings: 1σ and 2σ)")
    with gr.Row():
        overview = gr.Plot(label="student σ ellipses on the crop (2σ)")
        losses = gr.Markdown()
    with gr.Accordion("teacher heatmaps of every keypoint", open=False):
        grid = gr.Plot(label="teacher heatmaps (one colour scale)")
    def handler(image, box, keypoint, run=None, snapshot=None):
        return heatmaps(models, image, box, keypoint, run, snapshot)

    inputs, outputs = [image, box, keypoint, *selection_inputs(selector)], [panels, overview, losses, grid]
    click = run.click(handler, inputs, outputs, api_name="heatmaps")
    follow(selector, "heatmaps", click, handler, inputs, outputs)
    keypoint.input(handler, inputs, outputs, api_name=False)
