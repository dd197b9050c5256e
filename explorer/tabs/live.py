"""Live distill tab: a tiny student distils from the teacher on augmentations of the photo.

All model math is ``sdpose_core.train.live.iter_live_distill``; the figures are
``sdpose_core.viz.live``. The handler streams: the loss curve and a status line update while it
trains (with a progress bar), the converging-skeleton animation arrives at the end.
"""
from __future__ import annotations

from typing import Callable, Iterator

import gradio as gr
import plotly.graph_objects as go

from sdpose_core.data.transforms import bbox_xywh_to_center_scale
from sdpose_core.train.live import LiveDistillResult, iter_live_distill
from sdpose_core.train.teacher import keypoint_box
from sdpose_core.viz import PoseDrawing
from sdpose_core.viz.live import live_animation_figure, live_loss_figure

from ..inputs import parse_box, read_image
from ..models import ModelSet
from ..ui import guarded_stream
from .compare import _known_area, parse_area

OUTPUTS = ("plot", "plot", "md")
# dropdown label -> student (None: the default tiny CNN of sdpose_core.train.live)
STUDENTS: dict[str, str | None] = {
    "tiny CNN, heatmaps (fast)": None,
    "SDPose student (synth-student, slower)": "synth-student",
    "DistilPose student (synth-regression, slower)": "synth-regression",
}
DEFAULT_STEPS = 200


def _summary(result: LiveDistillResult, area: float | None = None) -> str:
    """Status line; at the end, the plain-crop loss and the OKS agreement with the teacher at the
    first and last step beside the mean-pose reference (Compare's convention, ``area``: annotated)."""
    first, last = result.snapshots[0], result.snapshots[-1]
    done = "done" if result.done else "training"
    lines = [f"**{done}: step {result.step}/{result.steps}** · {result.seconds:.1f} s "
             f"({1000 * result.seconds_per_step:.0f} ms/step) · teacher **{result.teacher_name}** → "
             f"student **{result.student}** ({result.recipe} objective)"]
    if result.done:
        agree = [result.agreement_at(s, area) for s in (first, last)]
        verdict = (" **At the end the agreement is within 0.1 of the reference: on this photo it says little.**"
                   if agree[1].oks - agree[1].reference_mean_pose < 0.1 else "")
        box = ", ".join(f"{v:.0f}" for v in result.teacher.bbox)
        lines += ["", "| | step 0 | step %d |" % last.step, "| --- | ---: | ---: |",
                  f"| loss on the plain crop | {first.loss:.4g} | {last.loss:.4g} |",
                  f"| OKS agreement with the teacher | {agree[0].oks:.3f} | **{agree[1].oks:.3f}** |",
                  f"| the mean pose in this box (reference) | {agree[0].reference_mean_pose:.3f} | "
                  f"{agree[1].reference_mean_pose:.3f} |", "",
                  f"OKS scale: {agree[0].area.describe()}, person box {box} (the teacher's; the student's "
                  "crops are cut from it). The mean pose is the average SynthPose person placed in that box's "
                  "crop: a student that ignores the photo scores about the reference." + verdict]
    return "\n".join(lines)


@guarded_stream(*OUTPUTS)
def live(models: ModelSet, image_path, box_text: str | None, teacher_role: str | None,
         student_label: str | None, steps: float | int | None = DEFAULT_STEPS, area_text: str | None = None,
         progress: Callable | None = None) -> Iterator[tuple[go.Figure, go.Figure, str]]:
    """Yields (animation or no change, loss curve, status Markdown) while training; last: the animation.

    ``area_text``: the person's annotated area (blank: a bundled example's label, else 0.53 × box)."""
    image = read_image(image_path)
    box = parse_box(box_text, image.shape[:2])
    area = parse_area(area_text)
    area = area if area is not None else _known_area(image_path, box)
    if student_label not in STUDENTS:
        raise ValueError(f"pick a student: {', '.join(STUDENTS)}")
    teacher = models.get(teacher_role or "teacher")
    steps = DEFAULT_STEPS if steps is None else int(steps)
    for result in iter_live_distill(teacher.model, image, steps, bbox=box, student=STUDENTS[student_label],
                                    report_every=max(5, steps // 20)):
        snaps = result.snapshots
        loss = live_loss_figure(result.losses, [s.step for s in snaps], [s.loss for s in snaps], steps)
        if progress is not None:
            progress(result.step / steps, desc=f"distilling: step {result.step}/{steps}")
        if not result.done:
            yield gr.skip(), loss, _summary(result, area)
    poses = [PoseDrawing(f"step {s.step}", s.keypoints, s.scores) for s in snaps]
    teacher_pose = PoseDrawing(f"teacher ({result.teacher_name})", result.teacher.keypoints, result.teacher.scores)
    person = box or keypoint_box(result.teacher, image.shape[:2]) or [0, 0, image.shape[1], image.shape[0]]
    center, size = bbox_xywh_to_center_scale(person, aspect_ratio=1.0, padding=1.3)  # zoom: a square on the person
    region = [*(center - size / 2), *size]
    animation = live_animation_figure(image, teacher_pose, poses, region=region)
    yield animation, loss, _summary(result, area)


def build(models: ModelSet, image: gr.Image, box: gr.Textbox) -> None:
    """The tab's widgets and events (call inside a gr.Tab)."""
    roles = models.roles()
    gr.Markdown("A fresh, tiny student learns the teacher's pose of **this photo** from augmented crops of "
                "it (flip, small scale / rotation / shift, colour jitter). The teacher runs once; its "
                "heatmaps are warped into every crop as the target. Press *Distil*, then drag the slider "
                "or press ▶ play to watch the student's skeleton (green) converge onto the teacher's (blue).")
    with gr.Row():
        default = next((r for r in ("blazepose", "teacher") if r in roles), roles[0] if roles else None)
        teacher = gr.Dropdown(roles, value=default, label="teacher (blazepose: the real-photo teacher, when installed)",
                              scale=2)
        student = gr.Dropdown(list(STUDENTS), value=next(iter(STUDENTS)), label="student", scale=2)
        steps = gr.Slider(20, 600, value=DEFAULT_STEPS, step=10, label="steps", scale=2)
        area = gr.Textbox(label="annotated person area (px², optional)", scale=1,
                          info="COCO `area`; blank = 0.53 × box")
    with gr.Row():
        run = gr.Button("Distil", variant="primary")
        stop = gr.Button("Stop")
    status = gr.Markdown()
    animation = gr.Plot(label="the student at each snapshot over the teacher: drag the slider or press play")
    loss = gr.Plot(label="distillation loss")

    def handler(image, box, teacher, student, steps, area_text=None, progress=gr.Progress()):
        yield from live(models, image, box, teacher, student, steps, area_text, progress=progress)

    event = run.click(handler, [image, box, teacher, student, steps, area], [animation, loss, status],
                      api_name="live", concurrency_limit=1)
    stop.click(None, None, None, cancels=[event], api_name=False)
