"""Compare tab: teacher vs a student on one photo: skeletons, confidences, latency, OKS agreement."""
from __future__ import annotations

from pathlib import Path

import gradio as gr
import plotly.graph_objects as go

from sdpose_core.evaluate.agreement import Agreement, agreement, find_annotated_area
from sdpose_core.interpret import collapse_report
from sdpose_core.viz import PoseDrawing, confidence_bar_figure, skeleton_figure, titled

from ..inputs import EXAMPLE_DIR, parse_box, read_image
from ..models import AUTO, ModelSet
from ..selector import SnapshotSelector, follow, selection_inputs
from ..snapshots import use_snapshot
from ..ui import guarded

OUTPUTS = ("plot", "plot", "md")


def parse_area(text: str | float | None) -> float | None:
    """The optional annotated person area (px²): blank -> None."""
    if text is None or not str(text).strip():
        return None
    try:
        value = float(str(text).replace(",", "").replace("_", ""))
    except ValueError:
        raise ValueError(f"annotated area must be a number of px² (COCO's `area`), got {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise ValueError(f"annotated area must be a positive number of px², got {text!r}")
    return value


def _known_area(image_path, box) -> float | None:
    """The annotated area of a bundled example's person (matched by file name and box)."""
    if not isinstance(image_path, (str, Path)):
        return None
    return find_annotated_area(EXAMPLE_DIR / "annotations.json", Path(image_path).name, box)


def agreement_markdown(teacher: str, student: str, agree: Agreement) -> list[str]:
    """The agreement with the mean-pose reference beside it, and the OKS scale used."""
    scale = agree.area.describe() + ("" if agree.area.annotated else
                                      "; type the annotated area (COCO `area`) for COCO's own scale")
    verdict = (" **Here the agreement is within 0.1 of the reference: on this photo it says little.**"
               if agree.oks - agree.reference_mean_pose < 0.1 else "")
    return [f"**OKS agreement with {teacher}**: **{agree.oks:.3f}**, where the mean pose would score "
            f"{agree.reference_mean_pose:.3f}", "",
            f"| prediction | OKS vs {teacher} | OKS vs the mean pose |", "| --- | ---: | ---: |",
            f"| {student} | **{agree.oks:.3f}** | {agree.other_mean_pose:.3f} |",
            f"| the mean pose in this box (reference) | {agree.reference_mean_pose:.3f} | 1 |", "",
            f"OKS scale: {scale}. The mean pose is the average SynthPose person placed in the box's crop: "
            "a model that ignores the photo scores about the reference." + verdict, ""]


def collapse_markdown(label: str, model) -> list[str]:
    """A warning per flagged collapse check of one model (nothing when its output follows the input)."""
    flags = collapse_report(model).flags
    if not flags:
        return []
    return [f"⚠️ **{label}: output barely depends on the input** (checked on fixed SynthPose probe crops):",
            *[f"- {c.message}" for c in flags], ""]


@guarded(*OUTPUTS)
def compare(models: ModelSet, image_path, box_text: str | None, student_role: str = "student",
            teacher_role: str = AUTO, area_text: str | None = None, run: str | None = None,
            snapshot: str | None = None) -> tuple[go.Figure, go.Figure, str]:
    """Overlay figure (one panel per model), confidence bars, and a Markdown summary.

    ``teacher_role`` is any loaded model (the bundled teacher, BlazePose, an ONNX file ...), or
    ``auto``: ``ModelSet.teacher_for`` (BlazePose on photos when installed);
    ``area_text`` the person's annotated area (blank: a bundled example's label, else an estimate);
    ``run`` + ``snapshot``: a saved snapshot that replaces the student (``use_snapshot``)."""
    image = read_image(image_path)
    box = parse_box(box_text, image.shape[:2])
    student_role, caption = use_snapshot(models, student_role, run, snapshot)
    teacher_role = models.teacher_for(image) if teacher_role == AUTO else teacher_role
    area = parse_area(area_text)
    area = area if area is not None else _known_area(image_path, box)
    roles = list(dict.fromkeys([teacher_role, student_role]))  # the same model twice: one panel
    results = {r: models.result(r, image, box) for r in roles}
    poses = [PoseDrawing(models.get(r).label, results[r].keypoints, results[r].scores) for r in roles]
    agree = agreement(results[teacher_role].keypoints, results[student_role].keypoints, box, image.shape[:2], area)
    lines = agreement_markdown(models.get(teacher_role).label, models.get(student_role).label, agree)
    for r in roles:
        lines += collapse_markdown(models.get(r).label, models.get(r).model)
    lines += models.result_notes(roles, image)  # what each was trained on; SynthPose-only on a photo
    lines += ["| model | latency (ms, one forward) | mean confidence | weights |", "| --- | ---: | ---: | --- |"]
    for r in roles:
        m, res = models.get(r), results[r]
        lines.append(f"| {m.label} | {res.latency_ms:.1f} | {res.scores.mean():.3f} | "
                     f"{m.source if m.trained else 'untrained: random init'} |")
    if caption:
        lines = [f"**{caption}** (the snapshot selector above replaces the student)", "", *lines]
    return titled(skeleton_figure(image, poses), caption), titled(confidence_bar_figure(poses), caption), \
        "\n".join(lines)


def build(models: ModelSet, image: gr.Image, box: gr.Textbox, selector: SnapshotSelector | None = None) -> None:
    """The tab's widgets and events (call inside a gr.Tab)."""
    students = models.roles(students_only=True)
    teachers = [*models.teacher_choices(), *(r for r in models.roles() if r != "teacher")]
    with gr.Row():
        role = gr.Dropdown(students, value=students[0] if students else None, label="student",
                           scale=2)
        teacher = gr.Dropdown(teachers, value=teachers[0][1], label="teacher (BlazePose / ONNX when installed)",
                              scale=2)
        area = gr.Textbox(label="annotated person area (px², optional)", scale=1,
                          info="COCO `area`; blank = 0.53 × box")
        run = gr.Button("Compare", variant="primary", scale=1)
    summary = gr.Markdown()
    overlay = gr.Plot(label="skeletons (original image pixels; marker fill = confidence)")
    bars = gr.Plot(label="per-keypoint confidence")
    def handler(image, box, student, teacher_role, area_text=None, run=None, snapshot=None):
        return compare(models, image, box, student, teacher_role, area_text, run, snapshot)

    inputs, outputs = [image, box, role, teacher, area, *selection_inputs(selector)], [overlay, bars, summary]
    click = run.click(handler, inputs, outputs, api_name="compare")
    follow(selector, "compare", click, handler, inputs, outputs)
