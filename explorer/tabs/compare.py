"""Compare tab: teacher vs a student on one photo: skeletons, confidences, latency, OKS agreement."""
from __future__ import annotations

import gradio as gr
import plotly.graph_objects as go

from sdpose_core.evaluate.inference import box_area, oks_agreement
from sdpose_core.viz import PoseDrawing, confidence_bar_figure, skeleton_figure

from ..inputs import parse_box, read_image
from ..models import ModelSet
from ..ui import guarded

OUTPUTS = ("plot", "plot", "md")


@guarded(*OUTPUTS)
def compare(models: ModelSet, image_path, box_text: str | None, student_role: str = "student",
            teacher_role: str = "teacher") -> tuple[go.Figure, go.Figure, str]:
    """Overlay figure (one panel per model), confidence bars, and a Markdown summary.

    ``teacher_role`` is any loaded model (the bundled teacher, BlazePose, an ONNX file ...)."""
    image = read_image(image_path)
    box = parse_box(box_text, image.shape[:2])
    roles = list(dict.fromkeys([teacher_role, student_role]))  # the same model twice: one panel
    results = {r: models.result(r, image, box) for r in roles}
    poses = [PoseDrawing(models.get(r).label, results[r].keypoints, results[r].scores) for r in roles]
    area = box_area(box, image.shape[:2])
    agreement = oks_agreement(results[teacher_role].keypoints, results[student_role].keypoints, area)
    lines = [f"**OKS agreement** ({teacher_role} vs {student_role}, area = {'box' if box else 'image'} "
             f"{area:.0f} px²): **{agreement:.3f}**", "",
             "| model | latency (ms, one forward) | mean confidence | weights |", "| --- | ---: | ---: | --- |"]
    for r in roles:
        m, res = models.get(r), results[r]
        lines.append(f"| {m.label} | {res.latency_ms:.1f} | {res.scores.mean():.3f} | "
                     f"{m.source if m.trained else 'untrained: random init'} |")
    return skeleton_figure(image, poses), confidence_bar_figure(poses), "\n".join(lines)


def build(models: ModelSet, image: gr.Image, box: gr.Textbox) -> None:
    """The tab's widgets and events (call inside a gr.Tab)."""
    students = models.roles(students_only=True)
    teachers = ["teacher", *(r for r in models.roles() if r != "teacher")]
    with gr.Row():
        role = gr.Dropdown(students, value=students[0] if students else None, label="student",
                           scale=2)
        teacher = gr.Dropdown(teachers, value="teacher", label="teacher (BlazePose / ONNX when installed)",
                              scale=2)
        run = gr.Button("Compare", variant="primary", scale=1)
    summary = gr.Markdown()
    overlay = gr.Plot(label="skeletons (original image pixels; marker fill = confidence)")
    bars = gr.Plot(label="per-keypoint confidence")
    def handler(image, box, student, teacher_role):
        return compare(models, image, box, student, teacher_role)

    run.click(handler, [image, box, role, teacher], [overlay, bars, summary], api_name="compare")
