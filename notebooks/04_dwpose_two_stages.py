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
# # 4 · DWPose: two-stage distillation of SimCC students
#
# DWPose (Yang et al., ICCVW 2023) distils RTMPose-style **SimCC** students. Instead of a 2-D
# heatmap, SimCC classifies the x and the y coordinate separately over $r\times$ finer bins
# (split ratio $r = 2$):
#
# $$\ell^x_b = \exp\Big(-\frac{(b - \mathrm{round}(r\,x))^2}{2\sigma_x^2}\Big),\qquad \hat x = \frac{\arg\max_b\, s^x_b}{r}\quad(\text{same for } y).$$
#
# **Stage 1** adds feature and logit distillation to the label loss, with a weight $r(e)$ that
# decays over the epochs:
#
# $$L_1 = L_{gt} + r(e)\Big(\alpha\,\frac{\lVert \mathrm{align}(F_s) - F_t\rVert^2}{N} + 0.1\,\mathrm{KD}\Big),\quad
#   \mathrm{KD} = \frac1K\sum_{a\in\{x,y\}}\sum_k \mathrm{KL}\big(\mathrm{softmax}(\beta t)\,\|\,\mathrm{softmax}(\beta s)\big),\quad r(e) = 1-\frac{e}{E}.$$
#
# **Stage 2** freezes the student's backbone and trains the head alone with $L_2 = \mathrm{KD}$,
# distilling the stage-1 student into itself.

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
from sdpose_core.data.topdown import CocoKeypointDataset, collate
from sdpose_core.distill import DWPoseStage1Loss, stage1_decay
from sdpose_core.data.codecs import codec_for
from sdpose_core.evaluate.agreement import agreement
from sdpose_core.evaluate.inference import run_pose
from sdpose_core.lessons import SAMPLES_DIR, load_examples, load_lesson_model, read_results, results_rows, simcc_probabilities
from sdpose_core.train.in_memory import family_loss_terms, fresh_student, frozen_copy, live_train
from sdpose_core.train.objectives import token_grid_features
from sdpose_core.train.recipes import build_objective, get_recipe
from sdpose_core.train.targets import CodecTargets
from sdpose_core.viz import PoseDrawing, loss_table_markdown
from sdpose_core.viz.convergence import snapshot_slider_figure
from sdpose_core.viz.teaching import decay_schedule_figure, loss_curves_figure, loss_terms_figure, simcc_axes_figure

# %%
teacher_l, student_l = load_lesson_model("synth-simcc-teacher"), load_lesson_model("synth-simcc")
teacher, student = teacher_l.model, student_l.model
display(Markdown(teacher_l.note + "\n\n" + student_l.note))
codec = codec_for(student.config)
val = CocoKeypointDataset(SAMPLES_DIR, student.config.input_size, target_fn=CodecTargets(codec))
item = val[0]
batch = collate([val[i] for i in range(8)])
with torch.no_grad():
    s_out, t_out = student(batch["image"], cycles=1)[0], teacher(batch["image"], cycles=1)[0]
s_pts, t_pts = codec.decode(s_out.simcc_x[:1], s_out.simcc_y[:1])[0][0], codec.decode(t_out.simcc_x[:1], t_out.simcc_y[:1])[0][0]
print(f"{codec.num_bins[0]} x-bins and {codec.num_bins[1]} y-bins for a {student.config.input_size[1]}x"
      f"{student.config.input_size[0]} crop (split ratio {codec.split_ratio:g}); sigma {tuple(round(v, 2) for v in codec.sigma)} bins")


# %% [markdown]
# ## 1. SimCC labels and decoding
#
# For the chosen keypoint of the first bundled crop: the label as the loss sees it,
# $\mathrm{softmax}(\beta\,\ell)$, and the student's and teacher's $\mathrm{softmax}(\beta\,s)$. The
# vertical lines mark the labelled position and the student's decode (argmax / $r$). A larger
# $\beta$ sharpens every distribution; DWPose and RTMPose use $\beta = 10$.

# %%
def show_simcc(keypoint, beta):
    x_curves = {"label": simcc_probabilities(item["simcc_x"][keypoint], beta),
                "student": simcc_probabilities(s_out.simcc_x[0, keypoint], beta),
                "teacher": simcc_probabilities(t_out.simcc_x[0, keypoint], beta)}
    y_curves = {"label": simcc_probabilities(item["simcc_y"][keypoint], beta),
                "student": simcc_probabilities(s_out.simcc_y[0, keypoint], beta),
                "teacher": simcc_probabilities(t_out.simcc_y[0, keypoint], beta)}
    marks = {"label": tuple(item["keypoints"][keypoint].tolist()), "student decode": tuple(s_pts[keypoint])}
    visible = "labelled" if float(item["visible"][keypoint]) > 0 else "NOT labelled (all-zero label)"
    return simcc_axes_figure(x_curves, y_curves, codec.split_ratio, marks,
                      title=f"{KEYPOINT_NAMES[keypoint]} ({visible}), β = {beta:g}")

interact(show_simcc,
                 keypoint=widgets.Dropdown(options=[(name, k) for k, name in enumerate(KEYPOINT_NAMES)], value=0, description="keypoint"),
                 beta=widgets.FloatSlider(min=1, max=20, step=1, value=10, continuous_update=False))

# %% [markdown]
# ## 2. Feature + logit distillation and the r(e) schedule
#
# `DWPoseStage1Loss` on 8 labelled crops. The student's "last backbone stage" is its final visual
# tokens laid out on the patch grid (`token_grid_features`). A 1×1 conv aligns its channels to the
# teacher's; that conv is random here, and trained with the student in a real run. Move the
# epoch: the label term stays, while both distillation terms shrink with $r(e)$. The decay never
# reaches 0, because the last epoch is $E-1$.

# %%
torch.manual_seed(0)
fea_s = token_grid_features(s_out, student.config.grid_size)
fea_t = token_grid_features(t_out, teacher.config.grid_size)
stage1_loss = DWPoseStage1Loss(fea_s.shape[1], fea_t.shape[1])

def show_decay(max_epochs, epoch):
    epoch = min(epoch, max_epochs - 1)
    stage1_loss.max_epochs = max_epochs
    with torch.no_grad():
        terms = stage1_loss(s_out.simcc_x, s_out.simcc_y, t_out.simcc_x, t_out.simcc_y, fea_s, fea_t, epoch,
                            label_x=batch["simcc_x"], label_y=batch["simcc_y"], target_weight=batch["target_weight"])
    epochs = list(range(max_epochs))
    return (decay_schedule_figure(epochs, [stage1_decay(e, max_epochs) for e in epochs], current=epoch),
            Markdown(loss_table_markdown({k: float(v) for k, v in terms.items()})))

interact(show_decay, max_epochs=widgets.IntSlider(min=2, max=420, value=420, continuous_update=False),
                 epoch=widgets.IntSlider(min=0, max=419, value=100, continuous_update=False))

# %% [markdown]
# ## 3. Two stages, live: do the predictions converge?
#
# A short run of both stages with the same recipes `sdpose train --recipe dwpose-s1 / dwpose-s2`
# uses (`build_objective`), on a freshly generated SynthPose set:
#
# - **stage 1**: a fresh SimCC student (pretrained backbone frozen if bundled) learns from the
#   labels, the teacher's features and the teacher's logits, for `E1` short epochs, so $r(e)$ runs
#   from 1 to $1/E_1$;
# - **stage 2**: a copy of the stage-1 student gets a new head. Its backbone, encoder and
#   BatchNorm statistics are frozen, and the head learns from the frozen stage-1 model's logits
#   only.
#
# After every epoch the student runs on one bundled crop. The slider steps through the
# snapshots, and the second plot tracks their OKS agreement with the teacher. Do not expect a
# smooth climb from 36 steps: the last line prints the agreement of every snapshot, and it
# wanders from epoch to epoch. For comparison, the same line ends with the agreement of the
# bundled `synth-simcc` (the same two stages in a full training run), which is far higher.

# %%
KD_WEIGHT = 0.1         # stage-1 logit weight (official 0.1). Exercise: try 1.0 and rerun
E1, E2, STEPS, BATCH = 4, 2, 6, 16
work = tempfile.TemporaryDirectory(prefix="sdpose-nb04-")
train_dir = generate_dataset(f"{work.name}/train", num=128, seed=1, difficulty="easy", progress=False)
ex = load_examples(count=1)[0]
t_pose = run_pose(teacher, ex.image, ex.bbox)

def snapshot(stage):
    def record(epoch, model):
        r = run_pose(model, ex.image, ex.bbox)
        return {"label": f"stage {stage} · epoch {epoch + 1}", "pose": r,
                "oks": agreement(t_pose.keypoints, r.keypoints, ex.bbox, ex.image.shape[:2], ex.area).oks}
    return record

s1, note = fresh_student("dwpose-s1")
stage1 = build_objective(get_recipe("dwpose-s1"), s1, frozen_copy(teacher))
stage1.loss.kd_loss.weight = KD_WEIGHT
log1 = live_train(s1, stage1, train_dir, epochs=E1, steps_per_epoch=STEPS, batch_size=BATCH, lr=1e-3,
                  seed=0, on_epoch=snapshot(1))
s1_frozen = frozen_copy(s1)
s2, _ = fresh_student("dwpose-s2", teacher=s1_frozen, backbone=False)
stage2 = build_objective(get_recipe("dwpose-s2"), s2, s1_frozen)
log2 = live_train(s2, stage2, train_dir, epochs=E2, steps_per_epoch=STEPS, batch_size=BATCH, lr=1e-3,
                  seed=1, on_epoch=snapshot(2))
trainable = lambda m: sum(p.numel() for p in m.parameters() if p.requires_grad)
display(Markdown(note + f"\n\n| stage | trainable parameters | steps | seconds |\n| --- | ---: | ---: | ---: |\n"
                 f"| 1 | {trainable(s1):,} | {len(log1.steps)} | {log1.seconds:.1f} |\n"
                 f"| 2 (head only) | {trainable(s2):,} | {len(log2.steps)} | {log2.seconds:.1f} |"))

# %%
loss_curves_figure({"stage 1": log1.steps}, keys=("loss_kpt", "loss_fea", "loss_logit", "decay"),
                   title="stage 1: label loss, decayed feature and logit terms, and r(e)").show()
snaps = log1.epochs + log2.epochs
poses = [PoseDrawing("teacher", t_pose.keypoints, t_pose.scores)]
poses += [PoseDrawing(f"{s['label']} (OKS vs teacher {s['oks']:.2f})", s["pose"].keypoints, s["pose"].scores) for s in snaps]
snapshot_slider_figure(ex.image, poses, height=460).show()
loss_curves_figure({"student vs teacher": [{"step": i + 1, "OKS": s["oks"]} for i, s in enumerate(snaps)]},
                   keys=("OKS",), log_y=False, x_title="snapshot (stage 1 epochs, then stage 2 epochs)",
                   title="agreement with the teacher after each epoch").show()
bundled = agreement(t_pose.keypoints, run_pose(student, ex.image, ex.bbox).keypoints, ex.bbox, ex.image.shape[:2], ex.area)
print("OKS vs teacher per snapshot: " + ", ".join(f"{s['oks']:.2f}" for s in snaps)
      + f"; the bundled {student_l.name} ({'trained' if student_l.trained else 'UNTRAINED'}): {bundled.oks:.2f}. "
      f"For reference, the mean pose in the same box scores {bundled.reference_mean_pose:.2f} against the teacher "
      f"({bundled.area.describe()}): agreement near that number says nothing.")
work.cleanup()

# %% [markdown]
# ## Exercise
#
# Set `KD_WEIGHT = 1.0` in section 3 (ten times the official logit weight) and rerun the two
# cells. Does the agreement with the teacher rise faster? Then set `E1 = 8`. The schedule $r(e)$
# decays more slowly per epoch, so distillation stays strong for longer.

# %% [markdown]
# ## 4. The distillation family on the same SimCC student: NKD, tf-NKD, ViTKD, MGD
#
# Four general losses by Zhendong Yang et al. (`docs/distillation.md`), written as recipes for
# the same `synth-simcc` student. Each adds its loss with weight 1 to the GT loss `loss_kpt`. For
# NKD and tf-NKD a row is one (crop, keypoint, axis). $S$ and $T$ are the student's and teacher's
# $\mathrm{softmax}(\beta s)$ over its bins, $t$ is the bin where the label peaks, and $\hat S$,
# $\hat T$ are the softmax over the non-target bins only.
#
# - **NKD** (`loss_nkd_target` + `loss_nkd_non_target`):
#   $$\mathrm{NKD} = \operatorname{mean}_{\text{rows}}\Big[-T_t\log S_t \;-\; \gamma\,\tau^2\sum_{j\ne t}\hat T_j\log\hat S_j\Big]$$
# - **tf-NKD**, no teacher: the soft target comes from the student's own confidence (sg = stop-gradient):
#   $$\text{tf-NKD} = \operatorname{mean}_{\text{rows}}\big[-w_t\log S_t\big],\qquad w_t = \operatorname{sg}\big(S_t + 1 - \operatorname{mean}_{\text{rows}} S_t\big)$$
# - **ViTKD**: *mimic* the visual tokens of layers 0 and 1, *generate* the final ones from a masked copy:
#   $$L_{\text{mimic}} = \frac{\alpha}{B}\sum_{l\in\{0,1\}}\lVert A_l(S_l) - T_l\rVert_2^2,\qquad
#   L_{\text{gen}} = \frac{\beta}{\lambda B}\sum_{b,n} M_{bn}\,\big\lVert G\big(\mathrm{grid}(\tilde S)\big)_{bn} - T^{\text{deep}}_{bn}\big\rVert_2^2$$
# - **MGD**: regenerate the teacher's final token grid from a randomly masked student grid:
#   $$L_{\text{mgd}} = \frac{\alpha}{N}\sum\big(G(\mathrm{align}(F_s)\odot M) - F_t\big)^2,\qquad M_{n,1,h,w}\sim\mathrm{Bernoulli}(1-\lambda)$$
#
# `family_loss_terms` builds each recipe's objective exactly as `sdpose train --recipe R` does
# (`build_objective`, i.e. `sdpose_core/train/objectives_family.py`) and calls it once, without
# gradients, on the 8 bundled crops of `batch` (setup cell) with the bundled `synth-simcc` and
# `synth-simcc-teacher`. The aligners, mask token and generation blocks are freshly initialised
# (seeded), so these are the values at step 1 of a run. The axis is logarithmic. NKD and
# tf-NKD are cross-entropies of single bins among a few hundred, while `loss_kpt`
# (`KLDiscretLoss`) averages over the bins. NKD's non-target term also includes the teacher's
# non-target entropy (about γ·log(bins − 1) per axis), a constant without gradient.

# %%
family = family_loss_terms(student, teacher, batch)  # recipe -> {term: value}; no loss maths in this notebook
loss_terms_figure(family, title="each recipe's loss terms at step 1, 8 bundled crops (bars: value, log axis)").show()
gt = family["nkd"]["loss_kpt"]  # the same student and batch for all four
print(f"loss_kpt {gt:.3f}; the recipe's distillation loss (total − loss_kpt) over loss_kpt: "
      + ", ".join(f"{r} {(t['total'] - t['loss_kpt']) / gt:.2g}×" for r, t in family.items()))

# %% [markdown]
# The measured table, read from `docs/RESULTS.md` each time the cell runs: the family's rows,
# with the SimCC baseline, DWPose stage 1 and the teacher on the same student for comparison.

# %%
FAMILY_RUNS = ["simcc", "dwpose-s1", "nkd", "tf-nkd", "vitkd", "mgd", "simcc-teacher"]
text = read_results()
table = None if text is None else results_rows(text, FAMILY_RUNS)
if table is None:
    display(Markdown("**`docs/RESULTS.md` is missing or has no distillation-family rows yet.** Run "
                     "`python benchmarks/reproduce.py` (or wait for the project's run) and rerun this cell."))
else:
    display(Markdown(table))

# %% [markdown]
# `docs/RESULTS.md`, under *What the numbers say*, pairs each of these rows with `simcc` seed by
# seed; read the per-seed column before ranking the means, because the seed-to-seed spread is as
# large as most of the differences. At the plateau (24 epochs) it says no method is above SimCC at
# every seed: NKD and MGD end a little higher on average, DWPose's stage-1 recipe and ViTKD a little
# lower at every seed, and teacher-free tf-NKD lowest; the larger gains measured at 12 epochs
# (`docs/RESULTS_12epochs.md`) mostly closed with training. These rows were distilled from the
# bundled teachers; `docs/RESULTS_stage1.md` has a 12-epoch comparison from the first-stage teachers.
#
# **Watching one of these runs in the explorer.** Train with any family recipe. `--out` keeps the
# run's `history/epoch_*.pt` snapshots and `metrics.jsonl`. Then open the folder in the
# explorer's *Distillation stages* tab, whose slider steps through the snapshots on a photo
# above the run's AP and loss curves:
#
# ```bash
# sdpose train --recipe vitkd --data synth/train --val synth/val \
#     --teacher data_samples/checkpoints/synth-simcc-teacher.pt --out runs/vitkd
# python -m explorer --runs runs/vitkd
# ```
#
# (`--recipe nkd`, `mgd` the same way; `tf-nkd` needs no `--teacher`.)
#
# *Exercise:* call `family_loss_terms(student, teacher, batch, seed=1)`. Which terms change, and
# why only those?
