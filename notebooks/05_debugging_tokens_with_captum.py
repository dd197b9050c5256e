# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 5 · Debugging tokens with captum
#
# Attention maps show where a token *looks*; attributions show which pixels *change the answer*.
# `sdpose_core.interpret.attribution.keypoint_attribution` explains one number per keypoint, the
# model's confidence in it (the heatmap value at the predicted peak), with respect to the input
# crop:
#
# - **saliency**: $|\partial f/\partial x|$;
# - **integrated gradients** (Sundararajan et al. 2017), from a black image $x'$:
#   $\mathrm{IG}_i(x) = (x_i - x'_i)\int_0^1 \frac{\partial f(x' + a(x - x'))}{\partial x_i}\,da$
#   (16 steps);
# - **occlusion**: how much $f$ drops when a black patch covers each region.
#
# We compare the heatmap teacher with the SDPose student, find the student's worst failures on the
# bundled samples, and check whether they are **left/right swaps** or **occlusions**.

# %%
import numpy as np
import torch
import ipywidgets as widgets
from IPython.display import Markdown, display

from sdpose_core.data.coco_meta import KEYPOINT_NAMES
from sdpose_core.train.trainer import seed_everything
from sdpose_core.viz.teaching import interact, use_notebook_renderer

torch.set_num_threads(1)  # tiny models: one thread is as fast and never fights other work for the CPU
seed_everything(0)        # every number below is reproducible
use_notebook_renderer();  # plotly figures render in JupyterLab without a network

from sdpose_core.data.codecs import codec_for
from sdpose_core.evaluate.inference import run_pose
from sdpose_core.interpret.attribution import METHODS, keypoint_attribution
from sdpose_core.lessons import SAMPLES_DIR, load_examples, load_lesson_model, occlude, rank_cases, swap_left_right
from sdpose_core.viz import PoseDrawing, skeleton_figure
from sdpose_core.viz.teaching import keypoint_bars_figure, overlay_figure

# %%
teacher_l, student_l = load_lesson_model("synth-teacher"), load_lesson_model("synth-student")
teacher, student = teacher_l.model, student_l.model
display(Markdown(teacher_l.note + "\n\n" + student_l.note))
assert tuple(teacher.config.input_size) == tuple(student.config.input_size), "the overlays assume one crop size"
examples = load_examples()

def crop_point(model, result, keypoint):
    return codec_for(model.config).decode_output(result.outputs[0])[0][0][keypoint]

def explain(image, bbox, keypoint, method="integrated_gradients", title=""):
    """Teacher and student attribution maps for one keypoint, side by side (a figure)."""
    results = [run_pose(m, image, bbox) for m in (teacher, student)]
    maps = [keypoint_attribution(m, image, keypoint, bbox, method=method) for m in (teacher, student)]
    points = [crop_point(m, r, keypoint) for m, r in zip((teacher, student), results)]
    name = KEYPOINT_NAMES[keypoint]
    prefix = f"{title}: " if title else ""
    return overlay_figure(results[0].crop, maps, [f"{prefix}teacher · {name} · {method}", f"{prefix}student · {name} · {method}"],
                   points=points)


# %% [markdown]
# ## 1. Attributions per keypoint, teacher vs student
#
# Each map is |attribution| summed over colour and scaled to max 1. The cross is the model's
# prediction for the keypoint. A healthy map is bright around the joint and along the limbs that
# lead to it. A map bright somewhere else shows the model using context, which can be a good
# thing (the other side of the body) or a bad one (clutter).

# %%
def show_attribution(example, keypoint, method):
    e = examples[example]
    return explain(e.image, e.bbox, keypoint, method)

interact(show_attribution,
                 example=widgets.Dropdown(options=list(range(len(examples))), value=0),
                 keypoint=widgets.Dropdown(options=[(name, k) for k, name in enumerate(KEYPOINT_NAMES)], value=9, description="keypoint"),
                 method=widgets.Dropdown(options=list(METHODS), value="integrated_gradients"))

# %% [markdown]
# ## 2. Finding failure cases
#
# `rank_cases` runs a model over every bundled sample and sorts the people by OKS against the
# label, worst first. For each one it also computes the OKS of the prediction with **every
# left/right keypoint exchanged**: if that fits much better, the model has mirrored the person.
# It also counts the keypoints that are labelled but hidden (COCO $v = 1$, occluded).
#
# A person both models get wrong is a *hard example*. A person the teacher gets right and the
# student does not is a failure of the *student*, which is what distillation should fix. So the
# case explained below is a left/right swap if the student made one. Otherwise it is the person,
# among the student's ten worst, where the student falls furthest below the teacher. The last
# line compares persons with many occluded keypoints with the rest.

# %%
cases = rank_cases(student, SAMPLES_DIR)
teacher_oks = {c.index: c.oks for c in rank_cases(teacher, SAMPLES_DIR)}
rows = ["| instance | student OKS | teacher OKS | student OKS if left/right swapped | occluded keypoints | worst keypoint |",
        "| ---: | ---: | ---: | ---: | ---: | --- |"]
for c in cases[:6]:
    k = c.worst_keypoint()
    rows.append(f"| {c.index} | {c.oks:.3f} | {teacher_oks[c.index]:.3f} | {c.oks_swapped:.3f}{' ⇄' if c.swapped else ''} "
                f"| {int(c.occluded.sum())} | {KEYPOINT_NAMES[k]} ({c.errors[k]:.1f} px) |")
display(Markdown("\n".join(rows)))
swap = next((c for c in cases if c.swapped), None)
case = swap or max(cases[:10], key=lambda c: teacher_oks[c.index] - c.oks)
print("a left/right swap:" if swap else "no clear left/right swap among the samples. Among the student's ten worst, "
      f"the teacher does best on this one (teacher OKS {teacher_oks[case.index]:.3f}):", case.summary())
many = np.array([c.occluded.sum() >= 4 for c in cases])
student_oks = np.array([c.oks for c in cases])
print(f"mean student OKS: {student_oks[many].mean():.3f} on the {many.sum()} persons with ≥ 4 occluded keypoints, "
      f"{student_oks[~many].mean():.3f} on the other {(~many).sum()}; over all {len(cases)}: {np.nanmean(student_oks):.3f} "
      f"(teacher {np.nanmean(list(teacher_oks.values())):.3f})")

# %% [markdown]
# ## 3. Explaining the failure
#
# Left: the label. Middle: the student's prediction. Right: the same prediction with left and
# right exchanged. If the right panel matches the label, the student found the body but mirrored
# it, which is the classic swap. SynthPose draws face cues (nose, eyes, ears) so that left and
# right are decidable from the head. Below: the error per keypoint for teacher and student;
# occluded keypoints are marked. Then the attributions of the worst keypoint: does the student
# look at the face, or only at the limb?

# %%
e = examples[case.index]
worst = case.worst_keypoint()
poses = [PoseDrawing("label", e.label_xy(), e.label_visible(), color="#2ca02c"),
         PoseDrawing(f"student (OKS {case.oks:.2f})", case.keypoints, np.ones(len(KEYPOINT_NAMES))),
         PoseDrawing(f"student, left/right swapped (OKS {case.oks_swapped:.2f})", swap_left_right(case.keypoints),
                     np.ones(len(KEYPOINT_NAMES)))]
skeleton_figure(e.image, poses, height=420).show()
t_case = next(c for c in rank_cases(teacher, SAMPLES_DIR) if c.index == case.index)
keypoint_bars_figure({"teacher": t_case.errors, "student": case.errors}, "error (image px)", occluded=case.occluded).show()
explain(e.image, e.bbox, worst, title="worst keypoint").show()

# %% [markdown]
# ## 4. A controlled occlusion
#
# Now make a failure on purpose: paint a grey square of `OCCLUDER` pixels over one labelled
# keypoint and compare the student's prediction and attribution before and after. A robust model
# moves little and takes its evidence from the neighbouring limbs. A brittle one jumps, or keeps
# looking at the grey square.

# %%
OCCLUDER = 24             # side of the grey square in image pixels. Exercise: try 8, then 48
KEYPOINT = 9              # left_wrist
e = next(x for x in examples if x.keypoints[KEYPOINT, 2] > 0)
hidden = occlude(e.image, e.keypoints[KEYPOINT, :2], OCCLUDER)
before, after = run_pose(student, e.image, e.bbox), run_pose(student, hidden, e.bbox)
moved = float(np.linalg.norm(after.keypoints[KEYPOINT] - before.keypoints[KEYPOINT]))
print(f"{KEYPOINT_NAMES[KEYPOINT]}: the prediction moved {moved:.1f} px; "
      f"confidence {before.scores[KEYPOINT]:.3f} -> {after.scores[KEYPOINT]:.3f}")
skeleton_figure(hidden, [PoseDrawing("student, original image", before.keypoints, before.scores),
                         PoseDrawing("student, occluded image", after.keypoints, after.scores)], height=420).show()
explain(hidden, e.bbox, KEYPOINT, title="occluded").show()

# %% [markdown]
# ## Exercise
#
# Change `OCCLUDER` to 8 and then 48 and rerun section 4. At what size does the prediction jump?
# Then set `KEYPOINT = 0` (nose). Hiding the face is what makes left and right hard to tell apart.
# Does the student now mirror the person? If section 2 found a swap (⇄ in its table), how many of
# that person's keypoints are occluded?
#
# *The bundled models were trained on SynthPose only (their AP is in the notes at the top). The
# last line of section 2 prints their mean OKS over all the samples; the cases in its table are
# the student's worst, well below that mean. With untrained weights (no checkpoint bundled) the
# maps are diffuse and every person is a failure.*
