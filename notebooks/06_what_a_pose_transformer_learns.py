# ---
# jupyter:
#   jupytext:
#     cell_metadata_filter: -all
#     formats: ipynb,py:percent
#     notebook_metadata_filter: -all
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 6 · What a pose transformer learns, and when
#
# The models in this project do not learn gradually. Their AP stays low for an epoch or two, then
# rises steeply, then levels off. This notebook opens a training run's **snapshot history** (the
# weights saved after some of its epochs, on both sides of the jump, plus every epoch's metrics)
# and looks inside the transformer at each snapshot:
#
# 1. the AP curve and where its largest rise is;
# 2. a game: the attention of two snapshots, one before and one after the jump; which is which?
# 3. per layer, the **entropy** of each keypoint token's attention (how focused it is), against
#    epoch, with the AP curve on the same axis;
# 4. the **distance** of the student's keypoint tokens to its teacher's (DistilPose distils them);
# 5. the keypoint-token **similarity matrix**: which keypoints the model still confuses;
# 6. saving any of these figures as PNG or HTML, and an animation of the snapshots.
#
# Every number is computed by `sdpose_core.interpret.dynamics` from the bundled files when the
# notebook runs; the text only says how to read them.

# %%
import tempfile
from pathlib import Path

import numpy as np
import torch
from IPython.display import Image, Markdown, display

from sdpose_core.data.coco_meta import KEYPOINT_NAMES
from sdpose_core.train.trainer import seed_everything
from sdpose_core.viz.teaching import use_notebook_renderer

torch.set_num_threads(1)  # tiny models: one thread is as fast and never fights other work for the CPU
seed_everything(0)        # every number below is reproducible
use_notebook_renderer();  # plotly figures render in JupyterLab without a network

from sdpose_core.interpret.dynamics import load_history, most_similar_pairs, teacher_for, token_dynamics
from sdpose_core.interpret.history_views import snapshot_views
from sdpose_core.lessons import load_lesson_model
from sdpose_core.models.zoo import CHECKPOINT_DIR
from sdpose_core.viz.dynamics import (dynamics_figure, entropy_by_keypoint_figure, similarity_matrices_figure,
                                      snapshot_attention_figure, teacher_distance_figure)
from sdpose_core.viz.export import save_figure
from sdpose_core.viz.frames import animation_frames, write_gif

# %% [markdown]
# ## 1. A snapshot history
#
# `RUN` names one of the bundled histories in `data_samples/checkpoints/` (see
# `data_samples/MODELS.md`): `distilpose` (a regression student distilled from `synth-teacher`,
# keypoint tokens included), `sdpose` (a two-cycle student with no teacher) or `dwpose` (SimCC,
# two stages). For a token-distilling recipe, `teacher_for` names the teacher its bundled run
# distilled from, and `token_dynamics` compares the student's keypoint tokens with that teacher's.
#
# `token_dynamics` runs every snapshot on the same probe crops (the first 16 bundled SynthPose
# persons), with every cycle, and records the attention of every layer.

# %%
RUN = "distilpose"
root = CHECKPOINT_DIR / RUN
teacher_name = teacher_for(load_history(root)[-1].recipe)
teacher = load_lesson_model(teacher_name) if teacher_name else None
if teacher is not None:
    display(Markdown(teacher.note))
dyn = token_dynamics(root, teacher=teacher.model if teacher is not None else None, teacher_name=teacher_name,
                     count=16)
cycles, layers = dyn.entropy.shape[1:3]
n_patches = dyn.maps.shape[-2] * dyn.maps.shape[-1]
snap_ap = dyn.snapshot_ap()
display(Markdown(
    f"**{RUN}** history: {len(dyn.labels)} trained checkpoint snapshots in `{root.name}/history/` "
    f"(recipe `{dyn.recipe}`), {cycles} cycle(s), {layers} layers, {n_patches} patches; "
    f"measured on {dyn.num_probes} probe crops.\n\n"
    "| snapshot | epoch | AP (val) |\n| --- | ---: | ---: |\n"
    + "\n".join(f"| {lab} | {e} | {a:.3f} |" for lab, e, a in zip(dyn.labels, dyn.epochs, snap_ap))))

# %% [markdown]
# ## 2. Where is the jump?
#
# `jump_epoch()` is the epoch that ends the largest one-epoch rise of AP in `metrics.jsonl`, and
# `sides()` picks the last snapshot before it and the first one at or after it.

# %%
jump = dyn.jump_epoch()
before, after = dyn.sides()
rises = np.diff(dyn.ap)
display(Markdown(
    "AP per epoch: " + ", ".join(f"{e}: {a:.3f}" for e, a in zip(dyn.ap_epochs, dyn.ap)) + ".\n\n"
    f"The largest one-epoch rise is {rises.max():.3f}, into epoch {jump}; the next largest is "
    f"{np.sort(rises)[-2]:.3f}. The snapshots on either side: `{dyn.labels[before]}` (AP {snap_ap[before]:.3f}) "
    f"and `{dyn.labels[after]}` (AP {snap_ap[after]:.3f})."))

# %% [markdown]
# ## 3. Predict from the attention alone
#
# Below is the attention of one keypoint token over one crop at the two snapshots either side of
# the jump, in an order shuffled by a fixed seed and labelled A and B: no epoch, no AP. The cyan
# cross of the token attention view is left out on purpose (it would show the prediction). The
# layer drawn is the one whose mean attention entropy changed most between the two snapshots; the
# cell computes it rather than picking it by hand. The colour scale is shared by both panels.
#
# **Before you run the next section, decide: is A or B the snapshot after the jump?** What should
# the attention of a token that has "found" its keypoint look like?

# %%
KEYPOINT = "left_wrist"
CYCLE = 1
k = KEYPOINT_NAMES.index(KEYPOINT)
change = np.abs(dyn.mean_entropy()[after, CYCLE - 1] - dyn.mean_entropy()[before, CYCLE - 1])  # (L,)
layer = int(np.argmax(change))
order = [before, after]
np.random.default_rng(6).shuffle(order)
snapshot_attention_figure(dyn, k, cycle=CYCLE, layer=layer, snapshots=order, titles=["A", "B"]).show()
print(f"keypoint {KEYPOINT}, cycle {CYCLE}, layer {layer}")

# %% [markdown]
# ### The answer
#
# Entropy is in nats: a token that looks at all patches equally has `log N`; one that looks at a
# single patch has 0. "Peak" is the largest patch weight divided by the uniform weight 1/N.

# %%
answer = "AB"[order.index(after)]
ent = {name: dyn.entropy[i, CYCLE - 1, layer, k] for name, i in zip("AB", order)}
peak = {name: dyn.maps[i, CYCLE - 1, layer, k].max() * n_patches for name, i in zip("AB", order)}
other = "AB"[order.index(before)]
focused = "lower" if ent[answer] < ent[other] else "higher"
display(Markdown(
    f"**{answer}** is `{dyn.labels[after]}` (AP {snap_ap[after]:.3f}), after the jump; {other} is "
    f"`{dyn.labels[before]}` (AP {snap_ap[before]:.3f}).\n\n"
    f"The `{KEYPOINT}` token in layer {layer}: entropy A {ent['A']:.3f}, B {ent['B']:.3f} nats "
    f"(uniform {dyn.max_entropy:.3f}); peak A {peak['A']:.2f}×, B {peak['B']:.2f}× uniform. "
    f"On this crop the snapshot after the jump has the **{focused}** entropy. "
    f"Averaged over all {len(KEYPOINT_NAMES)} tokens and {dyn.num_probes} crops, layer {layer}'s entropy went "
    f"from {dyn.mean_entropy()[before, CYCLE - 1, layer]:.3f} to {dyn.mean_entropy()[after, CYCLE - 1, layer]:.3f}."))

# %% [markdown]
# ## 4. Inside the model, epoch by epoch
#
# One figure, one epoch axis; the dotted line is the epoch that ends the largest AP rise:
#
# - **AP**: the whole curve from `metrics.jsonl`, circles where a snapshot was saved;
# - **attention entropy** of the keypoint tokens, one line per layer, averaged over the tokens,
#   heads and probe crops (dashed: a uniform look);
# - **token distance**: MSE between the student's final keypoint tokens and the teacher's (the
#   quantity DistilPose's token term pulls down), or, with no teacher (`sdpose`), between
#   consecutive cycles (the quantity SDPose's token term pulls down);
# - **similarity** after the last layer: mean cosine of the left/right token pairs (left wrist vs
#   right wrist ...) against all other pairs. If the two lines are close, the model's tokens do not
#   separate mirrored keypoints more than any two keypoints.

# %%
dynamics_figure(dyn, cycle=CYCLE).show()
pairs, others = dyn.left_right()
distance = dyn.teacher_mse[:, CYCLE - 1].mean(-1) if dyn.teacher_mse is not None else (
    dyn.cycle_gap[:, 0].mean(-1) if dyn.cycle_gap is not None else np.full(len(dyn.labels), np.nan))
header = "| snapshot | AP | " + " | ".join(f"entropy L{i}" for i in range(layers)) + \
    " | token distance | L/R similarity | other pairs |"
rows = [f"| {lab} | {snap_ap[s]:.3f} | " + " | ".join(f"{v:.3f}" for v in dyn.mean_entropy()[s, CYCLE - 1])
        + f" | {distance[s]:.4f} | {pairs[s, CYCLE - 1, -1]:.3f} | {others[s, CYCLE - 1, -1]:.3f} |"
        for s, lab in enumerate(dyn.labels)]
display(Markdown("\n".join([header, "|" + " --- |" * (5 + layers)] + rows)))

# %%
drop = dyn.mean_entropy()[0, CYCLE - 1] - dyn.mean_entropy()[-1, CYCLE - 1]  # (L,) over the whole run
across = dyn.mean_entropy()[before, CYCLE - 1] - dyn.mean_entropy()[after, CYCLE - 1]  # across the jump
share = (distance[before] - distance[after]) / (distance[0] - distance[-1])
moved = (f"The token distance went {distance[0]:.4f} → {distance[before]:.4f} → {distance[after]:.4f} → "
         f"{distance[-1]:.4f} (first snapshot, either side of the jump, last): the step across the jump is "
         f"{100 * share:.0f} % of its whole change. ") if np.isfinite(distance).all() else \
    "This run has no token distance (no teacher and a single cycle). "
display(Markdown(
    f"Over the whole history the mean entropy fell most in layer {int(np.argmax(drop))} "
    f"({dyn.mean_entropy()[0, CYCLE - 1, int(np.argmax(drop))]:.3f} → "
    f"{dyn.mean_entropy()[-1, CYCLE - 1, int(np.argmax(drop))]:.3f} nats). Across the jump alone, from "
    f"`{dyn.labels[before]}` to `{dyn.labels[after]}`, the layers changed by "
    + ", ".join(f"L{i} {-v:+.3f}" for i, v in enumerate(across)) + " nats. " + moved +
    "Left/right pairs vs other pairs after the last layer: "
    f"{pairs[0, CYCLE - 1, -1]:.3f} vs {others[0, CYCLE - 1, -1]:.3f} at the first snapshot, "
    f"{pairs[-1, CYCLE - 1, -1]:.3f} vs {others[-1, CYCLE - 1, -1]:.3f} at the last."))

# %% [markdown]
# ## 5. Which keypoints focus first?
#
# The same entropy, now per keypoint token (rows) and snapshot (columns), for the layer of the
# game. Dark is a spread-out look, bright a focused one. Below it, with a teacher, the distance of
# each keypoint token to the teacher's.

# %%
entropy_by_keypoint_figure(dyn, cycle=CYCLE, layer=layer).show()
per_kpt = dyn.entropy[before, CYCLE - 1, layer] - dyn.entropy[after, CYCLE - 1, layer]  # (K,)
top = np.argsort(-per_kpt)[:3]
display(Markdown(
    f"Across the jump, layer {layer}'s entropy fell most for " + ", ".join(
        f"`{KEYPOINT_NAMES[i]}` ({per_kpt[i]:.3f} nats)" for i in top)
    + f"; least for `{KEYPOINT_NAMES[int(np.argmin(per_kpt))]}` ({per_kpt.min():.3f} nats"
    + ("; negative: it rose)." if per_kpt.min() < 0 else ").")))
if dyn.teacher_mse is not None:
    teacher_distance_figure(dyn, cycle=CYCLE).show()
    far = np.argsort(-dyn.teacher_mse[-1, CYCLE - 1])[:3]
    display(Markdown("Furthest from the teacher at the last snapshot: " + ", ".join(
        f"`{KEYPOINT_NAMES[i]}` (MSE {dyn.teacher_mse[-1, CYCLE - 1, i]:.3f})" for i in far) + "."))

# %% [markdown]
# ## 6. Which keypoints does the model still confuse?
#
# The cosine similarity between keypoint tokens after the last layer, one panel per snapshot, one
# colour scale. Tokens that stay alike are read alike by the head: a model whose left and right
# wrist tokens are nearly identical has no way to tell the two wrists apart. The most similar
# pairs of each snapshot are listed below.

# %%
similarity_matrices_figure(dyn, cycle=CYCLE, layer=-1).show()
lines = []
for s, lab in enumerate(dyn.labels):
    best = most_similar_pairs(dyn.similarity[s, CYCLE - 1, -1], top=3)
    lines.append(f"- `{lab}`: " + ", ".join(f"{KEYPOINT_NAMES[a]} / {KEYPOINT_NAMES[b]} {v:.3f}" for a, b, v in best))
display(Markdown("\n".join(lines)))

# %% [markdown]
# ## 7. Save a figure, animate the snapshots
#
# Every figure here (and in the explorer) can be saved with `save_figure`: `.html` is standalone
# (plotly.js inlined, opens offline), `.png` is drawn by matplotlib from the figure's data, no
# browser needed. `snapshot_views` runs each snapshot on one photo, and `animation_frames` +
# `write_gif` turn one view into a GIF, as the command line does:
#
# ```bash
# sdpose animate --run data_samples/checkpoints/distilpose --view attention --keypoint left_wrist --out attention.gif
# ```
#
# The files go to a temporary folder here; the GIF is shown below.

# %%
with tempfile.TemporaryDirectory() as tmp:
    fig = dynamics_figure(dyn, cycle=CYCLE)
    saved = [save_figure(fig, Path(tmp) / "dynamics.png"), save_figure(fig, Path(tmp) / "dynamics.html")]
    views = snapshot_views(root, keypoint=KEYPOINT, cycle=CYCLE, layer=layer)
    frames = animation_frames(views, "attention", k, scale=2)
    gif = write_gif(frames, Path(tmp) / "attention.gif", fps=1.5)
    for path in saved + [gif]:
        print(f"{path.name}: {path.stat().st_size / 1024:.0f} KB")
    print(f"{len(frames)} frames of {frames[0].width}x{frames[0].height} px")
    display(Image(data=gif.read_bytes(), format="gif"))

# %% [markdown]
# ## Exercise
#
# 1. Set `RUN = "sdpose"` and rerun everything. The student has two cycles and no teacher: the
#    distance row now shows how far cycle 2's keypoint tokens are from cycle 1's. Set `CYCLE = 2`
#    too: does the second cycle focus more than the first?
# 2. Change `KEYPOINT` (e.g. `"nose"`, `"right_ankle"`) and play the game again: is the snapshot
#    after the jump always the more focused one for every keypoint?
# 3. Set `RUN = "dwpose"`: its last snapshot comes from stage 2, which trains a new head on the
#    stage-1 model with its backbone frozen (notebook 04). Compare the entropy and the similarity of
#    its last two snapshots: what changed, what did not, and why?
