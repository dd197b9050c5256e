"""Attribution tab: captum saliency / integrated gradients / occlusion per keypoint, teacher vs student."""
from __future__ import annotations

import gradio as gr
import plotly.graph_objects as go

from sdpose_core.data.coco_meta import KEYPOINT_NAMES
from sdpose_core.data.transforms import apply_affine
from sdpose_core.interpret.attribution import METHODS, attribution_panels
from sdpose_core.viz import attention_grid_figure, empty_figure, titled

from ..inputs import parse_box, read_image
from ..models import ModelSet, image_key
from ..selector import SnapshotSelector, follow, selection_inputs
from ..snapshots import use_snapshot
from ..ui import guarded
from .attention import _keypoint_index

OUTPUTS = ("plot", "md")


@guarded(*OUTPUTS)
def attribution(models: ModelSet, image_path, box_text: str | None, student_role: str = "student",
                keypoint: int | str = 0, method: str = "saliency", run: str | None = None,
                snapshot: str | None = None) -> tuple[go.Figure, str]:
    """Teacher and student attribution maps for one keypoint on the network crop, and a note.

    A model without input gradients (BlazePose, ONNX) gets no saliency / integrated-gradients
    panel; the note says why, and the other model's map is still drawn. ``run`` + ``snapshot``: a
    saved snapshot that replaces the student (``use_snapshot``)."""
    image = read_image(image_path)
    box = parse_box(box_text, image.shape[:2])
    student_role, caption = use_snapshot(models, student_role, run, snapshot)
    k = _keypoint_index(keypoint)
    roles = list(dict.fromkeys(["teacher", student_role]))
    loaded = {r: models.get(r) for r in roles}
    key = (image_key(image), None if box is None else tuple(box), k, method)
    panels = [models.memo(("attribution", r, *key),  # the teacher's map stays while the snapshot changes
                          lambda r=r: attribution_panels([(r, loaded[r].model)], image, k, box, method=method)[0])
              for r in roles]
    drawn = [(r, p) for r, p in zip(roles, panels) if p.map is not None]
    missing = [f"- **{loaded[r].label}**: no map. {p.reason}." for r, p in zip(roles, panels) if p.map is None]
    note = (f"**{method.replace('_', ' ')}** of each model's confidence for **{KEYPOINT_NAMES[k]}** "
            "with respect to the input crop (|attribution| summed over colour, each map scaled to max 1). "
            "Crosses: the model's prediction.")
    if missing:
        note += "\n\n" + "\n".join(missing)
    note += "\n\n" + "\n".join(models.result_notes(roles, image))  # trained on what, how well
    if caption:
        note = f"**{caption}** (the snapshot selector above replaces the student)\n\n" + note
    if not drawn:
        return titled(empty_figure("no model here gives input gradients: pick occlusion"), caption), note
    results = {r: models.result(r, image, box) for r, _ in drawn}
    fig = attention_grid_figure([results[r].crop for r, _ in drawn], [p.map for _, p in drawn],
                                [f"{loaded[r].label}: {KEYPOINT_NAMES[k]}" for r, _ in drawn],
                                marker=[apply_affine(results[r].keypoints[k], results[r].meta["matrix"])
                                        for r, _ in drawn], shared_scale=True)
    return titled(fig, caption), note


def build(models: ModelSet, image: gr.Image, box: gr.Textbox, selector: SnapshotSelector | None = None) -> None:
    """The tab's widgets and events (call inside a gr.Tab)."""
    students = models.roles(students_only=True)
    with gr.Row():
        role = gr.Dropdown(students, value=students[0] if students else None, label="student")
        keypoint = gr.Dropdown(list(KEYPOINT_NAMES), value="left_wrist", label="keypoint")
        method = gr.Dropdown(list(METHODS), value="saliency", label="method")
        run = gr.Button("Explain", variant="primary")
    note = gr.Markdown()
    fig = gr.Plot(label="attribution on the network's input crop (teacher | student)")

    def handler(image, box, student, keypoint, method, run=None, snapshot=None):
        return attribution(models, image, box, student, keypoint, method, run, snapshot)

    inputs, outputs = [image, box, role, keypoint, method, *selection_inputs(selector)], [fig, note]
    click = run.click(handler, inputs, outputs, api_name="attribution")
    follow(selector, "attribution", click, handler, inputs, outputs)
