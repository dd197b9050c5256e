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
# # 1 · Keypoint tokens
#
# TokenPose, SDPose and DistilPose all read a person crop as a **sequence of tokens**: one token per
# image patch ("visual tokens") plus one learned token per keypoint ("keypoint tokens"). A
# transformer mixes them, and a small head turns each keypoint token into that keypoint's
# prediction. This notebook opens the bundled SDPose student and looks at each piece:
#
# 1. the model's geometry, read from `model.config`;
# 2. patches → visual tokens;
# 3. keypoint tokens;
# 4. 2-D sine positions;
# 5. the attention of one keypoint token over the image (pick keypoint / cycle / layer / head).
#
# Everything is computed by `sdpose_core`; the notebook only calls it and draws. Move the widgets
# freely: each redraw takes well under a second on a laptop CPU.

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
from sdpose_core.interpret import cycle_rollouts, keypoint_attention_map, keypoint_rollout_map
from sdpose_core.evaluate.inference import run_pose
from sdpose_core.lessons import load_examples, load_lesson_model, model_geometry
from sdpose_core.models.position import sine_position_table
from sdpose_core.viz import attention_grid_figure
from sdpose_core.viz.teaching import patch_grid_figure, position_similarity_figure, token_similarity_figure

# %% [markdown]
# ## 1. The model and its geometry
#
# `load_lesson_model` loads `data_samples/checkpoints/<name>.pt` through `sdpose_core.load_model`.
# If the checkpoint is not there, it builds the same architecture with seeded random weights and
# says so: the plots still work, but they show an *untrained* network. The numbers below come
# from `model.config`, so they stay right if the architecture changes.

# %%
lesson = load_lesson_model("synth-student")
model = lesson.model
geo = model_geometry(model)
display(Markdown(lesson.note))
display(Markdown("| quantity | value |\n| --- | --- |\n" + "\n".join(f"| `{k}` | {v} |" for k, v in geo.items())))

# %% [markdown]
# ## 2. Patches become visual tokens
#
# A CNN backbone turns the crop $I \in \mathbb{R}^{3\times H\times W}$ into a feature map
# $F = \mathrm{backbone}(I)$ with stride $s$ (`feature_stride`). $F$ is cut into
# $p_h\times p_w$ patches, which gives a $g_h\times g_w$ grid of $N = g_h g_w$ patches. Each
# patch is flattened and projected to width $D$:
#
# $$x_j = W_e\,\mathrm{vec}(F_{[j]}) + b_e + \mathrm{pos}_j,\qquad j = 1..N .$$
#
# Each visual token therefore "sees" a block of `patch_pixels` input pixels (more through the
# backbone's receptive field). Move the slider to walk through the patches in token order
# (row-major).

# %%
examples = load_examples(count=8)
ex = examples[0]
result = run_pose(model, ex.image, ex.bbox, cycles=geo["cycles"], return_attention=True)
crop = result.crop  # the network input (H, W, 3), as the model saw it
first = result.outputs[0]
print(f"crop {crop.shape[:2]} -> visual tokens {tuple(first.visual_tokens.shape)}, "
      f"keypoint tokens {tuple(first.keypoint_tokens.shape)}")

def show_patch(patch):
    return patch_grid_figure(crop, geo["grid_size"], highlight=patch)

interact(show_patch, patch=widgets.IntSlider(min=0, max=geo["num_patches"] - 1,
                                                     value=geo["num_patches"] // 2, continuous_update=False))

# %% [markdown]
# ## 3. Keypoint tokens
#
# Before the first layer, 17 learned vectors $k_1..k_{17}\in\mathbb{R}^D$ (one per COCO keypoint)
# are put in front of the visual tokens:
#
# $$T^{(0)} = [\,k_1, \dots, k_{17},\; x_1, \dots, x_N\,] \in \mathbb{R}^{(17+N)\times D}.$$
#
# The same $k$ are used for every image; the transformer makes them image-specific. The head then
# reads keypoint $i$'s prediction from token $i$ only. The picture shows how similar the 17 tokens
# are to each other (cosine), as learned embeddings and after each cycle. The printed lines
# compare left/right pairs (left_eye/right_eye, …) with all other pairs. In the bundled student,
# the learned embeddings already pair left with right: the first line shows the left/right pairs
# far more alike than the other pairs. After the transformer, all 17 tokens have moved much closer
# together, and a left/right pair is no more alike than any other pair (compare the two means on
# the lines "after cycle …"). The head tells them apart by the remaining differences, and by the
# image evidence each token has gathered.

# %%
stages = {"learned embedding (input)": model.encoder.keypoint_token[0].detach()}
for c, out in enumerate(result.outputs, start=1):
    stages[f"after cycle {c}"] = out.keypoint_tokens[0]

pairs = [(k, k + 1) for k in range(1, len(KEYPOINT_NAMES), 2)]  # (left, right): COCO order
for stage, tokens in stages.items():
    unit = torch.nn.functional.normalize(tokens.float(), dim=-1)
    cos = (unit @ unit.T).numpy()
    pair = np.mean([cos[a, b] for a, b in pairs])
    other = (cos.sum() - np.trace(cos) - 2 * sum(cos[a, b] for a, b in pairs)) / (cos.size - len(cos) - 2 * len(pairs))
    print(f"{stage:>26}: mean cosine of left/right pairs {pair:.2f}, of all other pairs {other:.2f}")

def show_tokens(stage):
    return token_similarity_figure(stages[stage].numpy(), title=f"keypoint tokens: {stage}")

interact(show_tokens, stage=widgets.Dropdown(options=list(stages), value=list(stages)[0]))

# %% [markdown]
# ## 4. Two-dimensional sine positions
#
# Attention is blind to order, so every visual token gets a fixed position vector (the official
# TokenPose/SDPose table, DETR-style). Grid row $y$ and column $x$ (1-based) are scaled to
# $\hat y = 2\pi y/g_h$, $\hat x = 2\pi x/g_w$. The first $D/2$ features encode $\hat y$, the
# last $D/2$ encode $\hat x$, as sine/cosine pairs of falling frequency:
#
# $$\mathrm{pos}(\hat y)_{2i} = \sin\frac{\hat y}{\tau^{2i/(D/2)}},\qquad
#   \mathrm{pos}(\hat y)_{2i+1} = \cos\frac{\hat y}{\tau^{2i/(D/2)}},\qquad \tau = 10000 .$$
#
# In SDPose (`sine-full`) the table is added again before every layer after the first. Left: the
# table. Right: the cosine similarity of one patch's position vector to every other patch's.
# Nearby patches look alike, and that is how attention can tell "near" from "far".

# %%
TEMPERATURE = 10000.0  # exercise: try 100.0 or 1e6 and rerun this cell
gh, gw = geo["grid_size"]
pos = sine_position_table(gh, gw, geo["dim"], temperature=TEMPERATURE)[0].numpy()  # (N, D)
if model.config.pos_embedding != "learnable" and TEMPERATURE == 10000.0:
    gap = float(np.abs(pos - model.encoder.pos_embedding[0].numpy()).max())
    print(f"largest difference from the model's own table: {gap:.1e}"
          + (" (the same table; a bundled checkpoint stores it in float16)" if gap < 1e-3 else ""))

def show_position(row, col):
    return position_similarity_figure(pos, geo["grid_size"], row * gw + col)

interact(show_position,
                 row=widgets.IntSlider(min=0, max=gh - 1, value=gh // 2, continuous_update=False),
                 col=widgets.IntSlider(min=0, max=gw - 1, value=gw // 2, continuous_update=False))

# %% [markdown]
# ## 5. Where does a keypoint token look?
#
# Each layer computes, per head $h$, $A^{(h)} = \mathrm{softmax}\big(Q^{(h)}K^{(h)\top}/\sqrt{d_h}\big)$
# over all $17+N$ tokens. Row $i$ of $A$ restricted to the $N$ patch columns is keypoint $i$'s
# attention over the image, drawn here on its $g_h\times g_w$ grid. The other two panels are
# **attention rollout** (Abnar & Zuidema 2020). It multiplies $\tfrac12 A + \tfrac12 I$ through
# layers, so it also counts attention that reaches the patches indirectly, through other tokens.
# The middle panel rolls out the chosen cycle's layers only; the right one every layer of cycles
# 1 to N in order, because in the Multi-Cycled Transformer cycle N reads cycle N − 1's output (for
# cycle 1 the two are the same). The cross marks the cycle's prediction for the keypoint.
#
# A uniform row would put $1/(17+N)$ on every token. Compare the colour bar with that number:
# an untrained model stays close to it. The table printed below measures the bundled model on
# the first 8 samples, per layer (mean over heads): the peak attention of a keypoint token, how
# far (in patches) that peak lies from the model's prediction for the keypoint, and how much of
# the token's attention goes to the $N$ patches at all (the rest goes to the keypoint tokens).
# In the bundled student **layer 0** has the sharpest peak, it lies closest to the predicted
# joint, and layer 0 gives most of its attention to the patches. The peak falls with every later
# layer and lies further from the joint than layer 0's. Layers 1 to 3 still peak above uniform,
# but they give less than half of their attention to the patches, so they mostly mix tokens; the
# last layer's peak is the lowest. The plot opens on layer 0; move the layer slider to see the
# attention spread out in the later layers.

# %%
codec = codec_for(model.config)
crop_points = [codec.decode_output(o)[0][0] for o in result.outputs]  # (K, 2) crop pixels per cycle
print(f"uniform attention would be 1/(17+N) = {1 / geo['tokens']:.4f} per token")
peak, dist, mass = np.zeros(geo["depth"]), np.zeros(geo["depth"]), np.zeros(geo["depth"])
for e in examples:
    r = run_pose(model, e.image, e.bbox, cycles=1, return_attention=True)
    pts = codec.decode_output(r.outputs[0])[0][0] / np.asarray(geo["patch_pixels"])[::-1]  # in patches (x, y)
    for layer in range(geo["depth"]):
        for k in range(len(KEYPOINT_NAMES)):
            amap = keypoint_attention_map(r.outputs[0].attention, layer, "mean", k, geo["grid_size"]).numpy()
            iy, ix = np.unravel_index(amap.argmax(), amap.shape)
            peak[layer] += amap.max() / (len(examples) * len(KEYPOINT_NAMES))
            mass[layer] += amap.sum() / (len(examples) * len(KEYPOINT_NAMES))
            dist[layer] += np.hypot(ix + 0.5 - pts[k, 0], iy + 0.5 - pts[k, 1]) / (len(examples) * len(KEYPOINT_NAMES))
display(Markdown("| layer | peak attention (× uniform) | peak → prediction (patches) | on all patches |\n"
                 "| ---: | ---: | ---: | ---: |\n"
                 + "\n".join(f"| {l} | {peak[l]:.3f} ({peak[l] * geo['tokens']:.1f}×) | {dist[l]:.1f} | {mass[l]:.2f} |"
                              for l in range(geo["depth"]))))

def show_attention(keypoint, cycle, layer, head):
    att = result.outputs[cycle - 1].attention
    amap = keypoint_attention_map(att, layer, head, keypoint, geo["grid_size"]).numpy()
    within, through = cycle_rollouts([o.attention for o in result.outputs], cycle, head)
    rolls = [keypoint_rollout_map(r, keypoint, geo["grid_size"]).numpy() for r in (within, through)]
    name = KEYPOINT_NAMES[keypoint]
    point = crop_points[cycle - 1][keypoint]
    return attention_grid_figure(crop, [amap, *rolls],
                                 [f"{name}: cycle {cycle}, layer {layer}, head {head}",
                                  f"rollout, cycle {cycle}'s layers only", f"rollout through cycles 1–{cycle}"],
                                 marker=[point, point, point])

interact(show_attention,
                 keypoint=widgets.Dropdown(options=[(name, k) for k, name in enumerate(KEYPOINT_NAMES)], value=0, description="keypoint"),
                 cycle=widgets.IntSlider(min=1, max=geo["cycles"], value=1, continuous_update=False),
                 layer=widgets.IntSlider(min=0, max=geo["depth"] - 1, value=0, continuous_update=False),
                 head=widgets.Dropdown(options=["mean"] + list(range(geo["heads"])), value="mean"))

# %% [markdown]
# ## Exercise
#
# 1. In section 4, set `TEMPERATURE = 100.0` and rerun the cell. Does the similarity fall off
#    faster or slower with distance? Why does a smaller $\tau$ mean higher frequencies?
# 2. In section 2, change `ex = examples[0]` to another index, rerun from there, and find a
#    keypoint whose layer-0 attention moves with the person. Then look at layer 3: does anything
#    move there? (With untrained weights nothing moves in any layer. That is the point of
#    training.)
