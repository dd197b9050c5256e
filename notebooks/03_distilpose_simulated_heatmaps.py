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
# # 3 · DistilPose: simulated heatmaps and token distillation
#
# A **heatmap** model predicts a map $H_k \in \mathbb{R}^{H_h\times W_h}$ per keypoint and decodes
# its peak. Accurate, but the maps cost memory and the decoding is not differentiable. A
# **regression** model predicts the point directly, which is cheap but usually less accurate.
# DistilPose (Ye et al., CVPR 2023) trains a regression student from a heatmap teacher:
#
# $$L = \underbrace{\mathrm{SmoothL1}(\hat p, p^{gt})}_{\texttt{reg\_loss}}
#   + 5\!\times\!10^{-4}\big[\mathrm{MSE}(\mathrm{kpt}_s,\mathrm{kpt}_t)+\mathrm{MSE}(\mathrm{vis}_s,\mathrm{vis}_t)\big]
#   + 0.01\,\underbrace{|s - H_t[\hat p]|}_{\texttt{score\_loss}}
#   + 1.0\,\underbrace{\mathrm{MSE}\big(G(\hat p,\sigma), H_t\big)}_{\texttt{reg2hm\_loss}}$$
#
# The student predicts, per keypoint, a location $\hat p$, a spread $\sigma=(\sigma_x,\sigma_y)$ and a
# score $s$. From $(\hat p,\sigma)$ it builds a *simulated heatmap* $G$ that can be compared with the
# teacher's.

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

import tempfile

from sdpose_core.data.synthpose import generate_dataset
from sdpose_core.data.codecs import simulated_heatmap
from sdpose_core.distill import Reg2HMLoss, ScoreLoss
from sdpose_core.interpret import distilpose_heatmap_view
from sdpose_core.evaluate.agreement import agreement
from sdpose_core.evaluate.inference import run_pose
from sdpose_core.lessons import load_examples, load_lesson_model, model_geometry
from sdpose_core.train.in_memory import fresh_student, frozen_copy, live_train
from sdpose_core.interpret.tokens import per_token_mse
from sdpose_core.train.objectives import DistilPoseObjective, RegressionObjective
from sdpose_core.viz import PoseDrawing, heatmap_comparison_figure, loss_table_markdown, skeleton_figure
from sdpose_core.viz.heatmaps import heatmap_grid_figure, sigma_overlay_figure
from sdpose_core.viz.teaching import keypoint_bars_figure, loss_curves_figure

# %%
teacher_l, student_l = load_lesson_model("synth-teacher"), load_lesson_model("synth-regression")
teacher, student = teacher_l.model, student_l.model
display(Markdown(teacher_l.note + "\n\n" + student_l.note))
examples = load_examples(count=8)
ex = examples[0]
t_res, s_res = run_pose(teacher, ex.image, ex.bbox), run_pose(student, ex.image, ex.bbox)
view = distilpose_heatmap_view(s_res.outputs[0], t_res.outputs[0])
crop, H, W = s_res.crop, *view.teacher.shape[-2:]
print(f"teacher: {view.teacher.size} numbers per person ({len(KEYPOINT_NAMES)} maps of {H}x{W}); "
      f"student: {len(KEYPOINT_NAMES)} x 5 numbers (x, y, sigma_x, sigma_y, score)")

# %% [markdown]
# ## 1. Heatmap vs regression
#
# Top: the teacher's 17 heatmaps, all on one colour scale. Bottom: the regression student's
# answer for the same crop, one point and one $2\sigma$ ellipse per keypoint (in crop pixels).

# %%
heatmap_grid_figure(view.teacher, KEYPOINT_NAMES).show()
sigma_overlay_figure(crop, view.centers_in_crop(crop.shape[:2]), view.sigma_in_crop(crop.shape[:2])).show()

# %% [markdown]
# ## 2. Build a simulated heatmap yourself
#
# $$G_{yx} = \exp\Big(-\tfrac12\Big[\tfrac{(x-\mu_x)^2}{\sigma_x^2} + \tfrac{(y-\mu_y)^2}{\sigma_y^2}\Big]\Big),\qquad \mu = (W\hat p_x,\, H\hat p_y)\ \text{in heatmap pixels.}$$
#
# It has peak 1 at $\mu$, like the teacher's training targets. The sliders start at the student's
# prediction for the chosen keypoint. Move $\mu$ onto the teacher's peak and match $\sigma$ to its
# width, and watch `reg2hm_loss` fall (`Reg2HMLoss`, official weighting). The title also shows the
# **score target**, the teacher's value at the nearest pixel (`ScoreLoss`).
#
# Peak 1 and the head's own $\sigma$ are the official form (`Reg2HMLoss()`, the
# `distilpose-official` recipe), and that is what the sliders draw. The bundled
# `synth-regression` was trained with the `distilpose` recipe, which changes only how $G$ is
# drawn: it peaks at the teacher map's own maximum, with $\sigma + 1$ px
# (`Reg2HMLoss(amplitude="teacher_peak", min_sigma=1.0)`); the loss table of section 3 uses that
# form. Why: `docs/training.md`, section *DistilPose's σ trap*.

# %%
k0 = 0

def show_simulated(keypoint, mu_x, mu_y, sigma_x, sigma_y):
    coords = torch.tensor([[[mu_x / W, mu_y / H]]])   # normalised (x, y), as the student outputs it
    sigma = torch.tensor([[[sigma_x, sigma_y]]])
    hm_t = torch.as_tensor(view.teacher[keypoint])[None, None]
    sim = simulated_heatmap(coords, sigma, (H, W))[0, 0].numpy()
    loss = float(Reg2HMLoss()(coords, sigma, hm_t, torch.ones(1, 1, 2)))
    target = float(ScoreLoss().teacher_score(coords, hm_t)[0])
    title = f"{KEYPOINT_NAMES[keypoint]}: reg2hm_loss {loss:.5f} · score target H_t[p̂] = {target:.3f}"
    return heatmap_comparison_figure(view.teacher[keypoint], sim, np.array([mu_x, mu_y]),
                              np.array([sigma_x, sigma_y]), title=title)

slider = dict(continuous_update=False, readout_format=".2f")
interact(show_simulated,
                 keypoint=widgets.Dropdown(options=[(name, k) for k, name in enumerate(KEYPOINT_NAMES)], value=k0, description="keypoint"),
                 mu_x=widgets.FloatSlider(min=0, max=W, step=0.25, value=float(np.clip(view.centers[k0, 0], 0, W)), **slider),
                 mu_y=widgets.FloatSlider(min=0, max=H, step=0.25, value=float(np.clip(view.centers[k0, 1], 0, H)), **slider),
                 sigma_x=widgets.FloatSlider(min=0.3, max=8, step=0.1, value=float(np.clip(view.sigma[k0, 0], 0.3, 8)), **slider),
                 sigma_y=widgets.FloatSlider(min=0.3, max=8, step=0.1, value=float(np.clip(view.sigma[k0, 1], 0.3, 8)), **slider))

# %% [markdown]
# ## 3. Token distillation
#
# Teacher and student share the token geometry (same grid, same width $D$). So the student's
# final tokens can be pulled towards the teacher's token by token, for the keypoint tokens and for
# the visual tokens (the "token-distilling encoder"):
#
# $$L_{tok} = 5\times10^{-4}\,\big[\mathrm{MSE}(\mathrm{kpt}_s, \mathrm{kpt}_t) + \mathrm{MSE}(\mathrm{vis}_s, \mathrm{vis}_t)\big].$$
#
# The bars show, per keypoint, the mean squared difference between the student's and the teacher's
# keypoint token on this crop. The table lists every DistilPose term for the crop. There is no
# `reg_loss`, which needs a label: the explorer's *Heatmaps* tab shows the same view.

# %%
s_out, t_out = s_res.outputs[0], t_res.outputs[0]
same = s_out.keypoint_tokens.shape == t_out.keypoint_tokens.shape and s_out.visual_tokens.shape == t_out.visual_tokens.shape
print("token geometry (student, teacher):", model_geometry(student).get("grid_size"), model_geometry(student).get("dim"),
      "|", model_geometry(teacher).get("grid_size"), model_geometry(teacher).get("dim"))
if same:
    keypoint_bars_figure({"MSE(student token, teacher token)": per_token_mse(s_out.keypoint_tokens[0], t_out.keypoint_tokens[0])},
                         "mean squared difference").show()
else:
    print("the token shapes differ: token distillation needs the same geometry")
display(Markdown(loss_table_markdown(view.losses)))

# %% [markdown]
# ## 4. The score target
#
# A regression student has no heatmap peak to use as its confidence, so it predicts a score $s$.
# DistilPose trains $s$ towards **the teacher's heatmap value where the student points**,
# $s \to H_t[\mathrm{round}(\hat p)]$ with an L1 loss. A student pointing at the right place gets
# a high target; a student pointing at the background gets a target near 0. Its confidence
# therefore learns to track its own error.

# %%
keypoint_bars_figure({"student score σ(s)": view.score, "teacher value at the student's point": view.teacher_value},
                     "score").show()


# %% [markdown]
# ## 5. Teacher vs student on examples
#
# The label, the teacher, and the student on each bundled example. The OKS agreement is 1 when the
# student puts every keypoint where the teacher does; the cell prints it for each example.
#
# A regression student can fail by ignoring the image: it ends at the *mean pose*, nearly the
# same skeleton placed inside every box. On these centred crops such a student can still get a
# fair-looking OKS, so the cell also measures how much each model's keypoints move from person to
# person (box-normalised), and the range of the student's scores. A student that ignores the
# image has a small spread on both. The bundled student follows the person: the printed spread
# of its keypoints is close to the teacher's and the labels'. (A DistilPose student trained with
# the official loss put one pose in every crop for its first epochs, and with a weaker teacher
# for good: `docs/training.md`, *DistilPose's σ trap*.)

# %%
def box_normalised(points, bbox):
    return (np.asarray(points) - bbox[:2]) / bbox[2:]

spread = {"label": [], "teacher": [], "student": []}
student_scores, agreements = [], []
for e in examples:
    t, s = run_pose(teacher, e.image, e.bbox), run_pose(student, e.image, e.bbox)
    agreements.append(agreement(t.keypoints, s.keypoints, e.bbox, e.image.shape[:2], e.area))
    spread["label"].append(np.where(e.label_visible()[:, None] > 0, box_normalised(e.keypoints[:, :2], e.bbox), np.nan))
    spread["teacher"].append(box_normalised(t.keypoints, e.bbox))
    spread["student"].append(box_normalised(s.keypoints, e.bbox))
    student_scores.append(s.scores)
print("how far keypoints move between the persons (std over the examples, box-normalised, mean over keypoints):")
for name, pts in spread.items():
    print(f"  {name:>8}: {np.nanmean(np.nanstd(np.stack(pts), axis=0)):.3f}")
print(f"student scores: {np.min(student_scores):.3f} to {np.max(student_scores):.3f}")
print("student OKS vs teacher per example: " + ", ".join(f"{a.oks:.2f}" for a in agreements))
print("the mean pose in the same box vs teacher (what a collapsed student would score): "
      + ", ".join(f"{a.reference_mean_pose:.2f}" for a in agreements) + f"  [{agreements[0].area.describe()}, ...]")

def show_pair(example):
    e = examples[example]
    t, s = run_pose(teacher, e.image, e.bbox), run_pose(student, e.image, e.bbox)
    agree = agreement(t.keypoints, s.keypoints, e.bbox, e.image.shape[:2], e.area)
    poses = [PoseDrawing("label", e.label_xy(), e.label_visible(), color="#2ca02c"),
             PoseDrawing("teacher (heatmaps)", t.keypoints, t.scores),
             PoseDrawing(f"student (regression), OKS vs teacher {agree.oks:.2f} (mean pose: {agree.reference_mean_pose:.2f})", s.keypoints, s.scores)]
    return skeleton_figure(e.image, poses, height=420)

interact(show_pair, example=widgets.Dropdown(options=list(range(len(examples))), value=0))

# %% [markdown]
# ## 6. A few live steps: regression alone vs DistilPose
#
# Two identical regression students train on a generated SynthPose set for the same seeded steps.
# One learns from the labels only (`RegressionObjective`); the other also learns from the frozen
# teacher (`DistilPoseObjective`, official weights except `ALPHA`, the `reg2hm` weight, and the
# official peak-1 simulated heatmap of section 2). Both curves show `reg_loss`, the label term
# they share.

# %%
ALPHA = 1.0          # reg2hm_loss weight (official 1.0). Exercise: try 0.0 and 10.0, rerun
STEPS, BATCH = 16, 16
work = tempfile.TemporaryDirectory(prefix="sdpose-nb03-")
train_dir = generate_dataset(f"{work.name}/train", num=128, seed=1, difficulty="easy", progress=False)
runs = {"regression only": RegressionObjective(),
        f"DistilPose (reg2hm weight {ALPHA:g})": DistilPoseObjective(frozen_copy(teacher), reg2hm_weight=ALPHA)}
logs = {}
for name, objective in runs.items():
    s, note = fresh_student("regression")
    logs[name] = live_train(s, objective, train_dir, epochs=1, steps_per_epoch=STEPS, batch_size=BATCH, lr=1e-3, seed=0)
    print(f"{name}: {STEPS} steps in {logs[name].seconds:.1f} s")
display(Markdown(note))
loss_curves_figure({n: l.steps for n, l in logs.items()}, keys=("reg_loss",), smooth=3,
                   title="reg_loss (SmoothL1 to the labels), 3-step moving average").show()
loss_curves_figure({"DistilPose": logs[list(logs)[1]].steps},
                   keys=("reg2hm_loss", "score_loss", "kpt_dist_loss", "vis_dist_loss"),
                   title="the distillation terms of the DistilPose run").show()
work.cleanup()

# %% [markdown]
# ## Exercise
#
# Set `ALPHA = 0.0` in section 6 (no simulated-heatmap term) and rerun. Then try `ALPHA = 10.0`.
# Which run's `reg_loss` falls fastest over these few steps? The simulated-heatmap term pulls the
# student towards the teacher's maps, mistakes included (the teacher's AP is in its note at the
# top). Then add `amplitude="teacher_peak", min_sigma=1.0` to the `DistilPoseObjective(...)` call,
# the form the bundled student was trained with, and rerun. Every step also logs `sigma_mean`
# (the σ the simulated heatmap is drawn with) and `coord_batch_std` (how much the predicted
# coordinates vary over the batch) in `logs[name].steps`. Which form keeps σ above a pixel, and
# do the coordinates of both runs keep following the image? (`docs/training.md`, *DistilPose's
# σ trap*, says what to look for.)
