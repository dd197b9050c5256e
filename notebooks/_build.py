"""Write the tutorial notebooks (outputs stripped) from the cell sources below.

    python notebooks/_build.py          # rewrites notebooks/0*.ipynb

Edit the cells here, not in the .ipynb files, then rerun. The notebooks call sdpose_core only;
tests/test_notebooks.py executes each one top to bottom.
"""
from __future__ import annotations

from pathlib import Path
from textwrap import dedent

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).resolve().parent

SETUP = """\
import numpy as np
import torch
import ipywidgets as widgets
from IPython.display import Markdown, display

from sdpose_core.data.coco_meta import KEYPOINT_NAMES
from sdpose_core.train.trainer import seed_everything
from sdpose_core.viz.teaching import use_notebook_renderer

torch.set_num_threads(1)  # tiny models: one thread is as fast and never fights other work for the CPU
seed_everything(0)        # every number below is reproducible
use_notebook_renderer();  # plotly figures render in JupyterLab without a network
"""

KEYPOINT_OPTIONS = "[(name, k) for k, name in enumerate(KEYPOINT_NAMES)]"


def md(text: str):
    return new_markdown_cell(dedent(text).strip())


def code(text: str):
    return new_code_cell(dedent(text).strip())


# ----------------------------------------------------------------------------------------------
NB01 = [
    md("""
    # 1 · Keypoint tokens

    TokenPose, SDPose and DistilPose all read a person crop as a **sequence of tokens**: one token per
    image patch ("visual tokens") plus one learned token per keypoint ("keypoint tokens"). A
    transformer mixes them, and a small head turns each keypoint token into that keypoint's
    prediction. This notebook opens the bundled SDPose student and looks at each piece:

    1. the model's geometry, read from `model.config`;
    2. patches → visual tokens;
    3. keypoint tokens;
    4. 2-D sine positions;
    5. the attention of one keypoint token over the image (pick keypoint / cycle / layer / head).

    Everything is computed by `sdpose_core`; the notebook only calls it and draws. Move the widgets
    freely: each redraw takes well under a second on a laptop CPU.
    """),
    code(SETUP + """
from sdpose_core.evaluate.predict import codec_for, decode_output
from sdpose_core.interpret import attention_rollout, keypoint_attention_map, keypoint_rollout_map, run_pose
from sdpose_core.interpret.teaching import load_examples, load_lesson_model, model_geometry
from sdpose_core.models.position import sine_position_table
from sdpose_core.viz import attention_grid_figure
from sdpose_core.viz.teaching import patch_grid_figure, position_similarity_figure, token_similarity_figure
"""),
    md("""
    ## 1. The model and its geometry

    `load_lesson_model` loads `data_samples/checkpoints/<name>.pt` through `sdpose_core.load_model`.
    If the checkpoint is not there, it builds the same architecture with seeded random weights and
    says so: the plots still work, but they show an *untrained* network. The numbers below come
    from `model.config`, so they stay right if the architecture changes.
    """),
    code("""
    lesson = load_lesson_model("synth-student")
    model = lesson.model
    geo = model_geometry(model)
    display(Markdown(lesson.note))
    display(Markdown("| quantity | value |\\n| --- | --- |\\n" + "\\n".join(f"| `{k}` | {v} |" for k, v in geo.items())))
    """),
    md("""
    ## 2. Patches become visual tokens

    A CNN backbone turns the crop $I \\in \\mathbb{R}^{3\\times H\\times W}$ into a feature map
    $F = \\mathrm{backbone}(I)$ with stride $s$ (`feature_stride`). $F$ is cut into
    $p_h\\times p_w$ patches, which gives a $g_h\\times g_w$ grid of $N = g_h g_w$ patches. Each
    patch is flattened and projected to width $D$:

    $$x_j = W_e\\,\\mathrm{vec}(F_{[j]}) + b_e + \\mathrm{pos}_j,\\qquad j = 1..N .$$

    Each visual token therefore "sees" a block of `patch_pixels` input pixels (more through the
    backbone's receptive field). Move the slider to walk through the patches in token order
    (row-major).
    """),
    code("""
    examples = load_examples(count=8)
    ex = examples[0]
    result = run_pose(model, ex.image, ex.bbox, cycles=geo["cycles"], return_attention=True)
    crop = result.crop  # the network input (H, W, 3), as the model saw it
    first = result.outputs[0]
    print(f"crop {crop.shape[:2]} -> visual tokens {tuple(first.visual_tokens.shape)}, "
          f"keypoint tokens {tuple(first.keypoint_tokens.shape)}")

    def show_patch(patch):
        patch_grid_figure(crop, geo["grid_size"], highlight=patch).show()

    widgets.interact(show_patch, patch=widgets.IntSlider(min=0, max=geo["num_patches"] - 1,
                                                         value=geo["num_patches"] // 2, continuous_update=False));
    """),
    md("""
    ## 3. Keypoint tokens

    Before the first layer, 17 learned vectors $k_1..k_{17}\\in\\mathbb{R}^D$ (one per COCO keypoint)
    are put in front of the visual tokens:

    $$T^{(0)} = [\\,k_1, \\dots, k_{17},\\; x_1, \\dots, x_N\\,] \\in \\mathbb{R}^{(17+N)\\times D}.$$

    The same $k$ are used for every image; the transformer makes them image-specific. The head then
    reads keypoint $i$'s prediction from token $i$ only. The picture shows how similar the 17 tokens
    are to each other (cosine), as learned embeddings and after each cycle. The printed lines
    compare left/right pairs (left_eye/right_eye, …) with all other pairs. In the bundled student,
    the learned embeddings already pair left with right: the first line shows the left/right pairs
    far more alike than the other pairs. After the transformer, all 17 tokens have moved much closer
    together, and a left/right pair is barely more alike than any other pair (the lines "after
    cycle …"). The head tells them apart by the remaining differences, and by the image evidence
    each token has gathered.
    """),
    code("""
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
        token_similarity_figure(stages[stage].numpy(), title=f"keypoint tokens: {stage}").show()

    widgets.interact(show_tokens, stage=widgets.Dropdown(options=list(stages), value=list(stages)[0]));
    """),
    md("""
    ## 4. Two-dimensional sine positions

    Attention is blind to order, so every visual token gets a fixed position vector (the official
    TokenPose/SDPose table, DETR-style). Grid row $y$ and column $x$ (1-based) are scaled to
    $\\hat y = 2\\pi y/g_h$, $\\hat x = 2\\pi x/g_w$. The first $D/2$ features encode $\\hat y$, the
    last $D/2$ encode $\\hat x$, as sine/cosine pairs of falling frequency:

    $$\\mathrm{pos}(\\hat y)_{2i} = \\sin\\frac{\\hat y}{\\tau^{2i/(D/2)}},\\qquad
      \\mathrm{pos}(\\hat y)_{2i+1} = \\cos\\frac{\\hat y}{\\tau^{2i/(D/2)}},\\qquad \\tau = 10000 .$$

    In SDPose (`sine-full`) the table is added again before every layer after the first. Left: the
    table. Right: the cosine similarity of one patch's position vector to every other patch's.
    Nearby patches look alike, and that is how attention can tell "near" from "far".
    """),
    code("""
    TEMPERATURE = 10000.0  # exercise: try 100.0 or 1e6 and rerun this cell
    gh, gw = geo["grid_size"]
    pos = sine_position_table(gh, gw, geo["dim"], temperature=TEMPERATURE)[0].numpy()  # (N, D)
    if model.config.pos_embedding != "learnable" and TEMPERATURE == 10000.0:
        gap = float(np.abs(pos - model.encoder.pos_embedding[0].numpy()).max())
        print(f"largest difference from the model's own table: {gap:.1e}"
              + (" (the same table; a bundled checkpoint stores it in float16)" if gap < 1e-3 else ""))

    def show_position(row, col):
        position_similarity_figure(pos, geo["grid_size"], row * gw + col).show()

    widgets.interact(show_position,
                     row=widgets.IntSlider(min=0, max=gh - 1, value=gh // 2, continuous_update=False),
                     col=widgets.IntSlider(min=0, max=gw - 1, value=gw // 2, continuous_update=False));
    """),
    md("""
    ## 5. Where does a keypoint token look?

    Each layer computes, per head $h$, $A^{(h)} = \\mathrm{softmax}\\big(Q^{(h)}K^{(h)\\top}/\\sqrt{d_h}\\big)$
    over all $17+N$ tokens. Row $i$ of $A$ restricted to the $N$ patch columns is keypoint $i$'s
    attention over the image, drawn here on its $g_h\\times g_w$ grid. The second panel is
    **attention rollout** (Abnar & Zuidema 2020). It multiplies $\\tfrac12 A + \\tfrac12 I$ through the
    cycle's layers, so it also counts attention that reaches the patches indirectly, through other
    tokens. The cross marks the cycle's prediction for the keypoint.

    A uniform row would put $1/(17+N)$ on every token. Compare the colour bar with that number:
    an untrained model stays close to it. The table printed below measures the bundled model on
    the first 8 samples, per layer (mean over heads): the peak attention of a keypoint token, how
    far (in patches) that peak lies from the model's prediction for the keypoint, and how much of
    the token's attention goes to the $N$ patches at all (the rest goes to the keypoint tokens).
    In the bundled student **layer 0** has the sharpest peak, and it lies closest to the predicted
    joint. Layers 1 and 2 still peak well above uniform, further from the joint. The last layer's
    peak is no higher than uniform: what it gives the patches it spreads almost evenly, so it
    mostly mixes tokens. The plot opens on layer 0; move the layer slider to see the last layer
    flatten.
    """),
    code("""
    codec = codec_for(model.config)
    crop_points = [decode_output(o, codec)[0][0] for o in result.outputs]  # (K, 2) crop pixels per cycle
    print(f"uniform attention would be 1/(17+N) = {1 / geo['tokens']:.4f} per token")
    peak, dist, mass = np.zeros(geo["depth"]), np.zeros(geo["depth"]), np.zeros(geo["depth"])
    for e in examples:
        r = run_pose(model, e.image, e.bbox, cycles=1, return_attention=True)
        pts = decode_output(r.outputs[0], codec)[0][0] / np.asarray(geo["patch_pixels"])[::-1]  # in patches (x, y)
        for layer in range(geo["depth"]):
            for k in range(len(KEYPOINT_NAMES)):
                amap = keypoint_attention_map(r.outputs[0].attention, layer, "mean", k, geo["grid_size"]).numpy()
                iy, ix = np.unravel_index(amap.argmax(), amap.shape)
                peak[layer] += amap.max() / (len(examples) * len(KEYPOINT_NAMES))
                mass[layer] += amap.sum() / (len(examples) * len(KEYPOINT_NAMES))
                dist[layer] += np.hypot(ix + 0.5 - pts[k, 0], iy + 0.5 - pts[k, 1]) / (len(examples) * len(KEYPOINT_NAMES))
    display(Markdown("| layer | peak attention (× uniform) | peak → prediction (patches) | on all patches |\\n"
                     "| ---: | ---: | ---: | ---: |\\n"
                     + "\\n".join(f"| {l} | {peak[l]:.3f} ({peak[l] * geo['tokens']:.1f}×) | {dist[l]:.1f} | {mass[l]:.2f} |"
                                  for l in range(geo["depth"]))))

    def show_attention(keypoint, cycle, layer, head):
        att = result.outputs[cycle - 1].attention
        amap = keypoint_attention_map(att, layer, head, keypoint, geo["grid_size"]).numpy()
        roll = keypoint_rollout_map(attention_rollout(att, head), keypoint, geo["grid_size"]).numpy()
        name = KEYPOINT_NAMES[keypoint]
        point = crop_points[cycle - 1][keypoint]
        attention_grid_figure(crop, [amap, roll],
                              [f"{name}: cycle {cycle}, layer {layer}, head {head}",
                               f"rollout through cycle {cycle}"], marker=[point, point]).show()

    widgets.interact(show_attention,
                     keypoint=widgets.Dropdown(options=KEYPOINT_OPTIONS, value=0, description="keypoint"),
                     cycle=widgets.IntSlider(min=1, max=geo["cycles"], value=1, continuous_update=False),
                     layer=widgets.IntSlider(min=0, max=geo["depth"] - 1, value=0, continuous_update=False),
                     head=widgets.Dropdown(options=["mean"] + list(range(geo["heads"])), value="mean"));
    """.replace("KEYPOINT_OPTIONS", KEYPOINT_OPTIONS)),
    md("""
    ## Exercise

    1. In section 4, set `TEMPERATURE = 100.0` and rerun the cell. Does the similarity fall off
       faster or slower with distance? Why does a smaller $\\tau$ mean higher frequencies?
    2. In section 2, change `ex = examples[0]` to another index, rerun from there, and find a
       keypoint whose layer-0 attention moves with the person. Then look at layer 3: does anything
       move there? (With untrained weights nothing moves in any layer. That is the point of
       training.)
    """),
]

# ----------------------------------------------------------------------------------------------
NB02 = [
    md("""
    # 2 · SDPose: the Multi-Cycled Transformer and self-distillation

    SDPose (Chen et al., CVPR 2024) runs **the same transformer several times**. Cycle $c$ gets the
    whole token sequence that cycle $c-1$ produced, and the weights are shared:

    $$T^{(c)} = \\mathcal{F}_\\theta\\big(T^{(c-1)}\\big),\\quad c = 1..C,\\qquad H_c = \\mathrm{head}\\big(T^{(c)}_{1..17}\\big).$$

    Training supervises every cycle and pulls the tokens of consecutive cycles together
    ("self-distillation"). At inference only cycle 1 runs, so the later cycles' extra depth is free
    at test time:

    $$L = \\sum_{c=1}^{C}\\mathrm{MSE}(H_c, H^{gt}) + \\alpha\\sum_{c=1}^{C-1}\\big[\\mathrm{MSE}(\\mathrm{kpt}_c,\\mathrm{kpt}_{c+1}) + \\mathrm{MSE}(\\mathrm{vis}_c,\\mathrm{vis}_{c+1})\\big],\\qquad \\alpha = 5\\times10^{-6}.$$

    Sections: per-cycle predictions · per-cycle attention · the loss terms on real labels · a short
    live training with and without self-distillation · the measured table of `docs/RESULTS.md`.
    """),
    code(SETUP + """
import tempfile

from sdpose_core.data.synthpose import generate_dataset
from sdpose_core.data.topdown import CocoKeypointDataset, collate
from sdpose_core.distill import SDPoseLoss, joints_mse_loss
from sdpose_core.evaluate.predict import codec_for, decode_output, evaluate_model
from sdpose_core.interpret import keypoint_attention_map, run_pose, token_change_per_cycle
from sdpose_core.interpret.teaching import (SAMPLES_DIR, cycle_token_gap, fresh_student, live_train,
                                            load_examples, load_lesson_model, model_geometry, read_results)
from sdpose_core.train.objectives import HeatmapObjective
from sdpose_core.train.targets import CodecTargets
from sdpose_core.viz import PoseDrawing, attention_grid_figure, loss_table_markdown, skeleton_figure, token_change_figure
from sdpose_core.viz.teaching import loss_curves_figure
"""),
    code("""
    lesson = load_lesson_model("synth-student")
    model, geo = lesson.model, model_geometry(lesson.model)
    C = geo["cycles"]
    display(Markdown(lesson.note))
    print(f"{geo['name']}: {C} cycles of a {geo['depth']}-layer transformer on {geo['tokens']} tokens of width {geo['dim']}")
    examples = load_examples(count=8)
    """),
    md("""
    ## 1. One prediction per cycle

    `model(images, cycles=C)` returns one record per cycle. Each cycle's heatmaps are decoded the
    same way (`decode_output`). The left panel is the label; the others are the cycles. In a trained
    SDPose model the cycles agree closely: that agreement is what the token loss asks for.
    """),
    code("""
    def show_cycles(example):
        ex = examples[example]
        res = run_pose(model, ex.image, ex.bbox, cycles=C)
        poses = [PoseDrawing("label", ex.label_xy(), ex.label_visible(), color="#2ca02c")]
        poses += [PoseDrawing(f"cycle {c}", *res.cycle_keypoints(model, c)) for c in range(1, C + 1)]
        skeleton_figure(ex.image, poses, height=420).show()

    widgets.interact(show_cycles, example=widgets.Dropdown(options=list(range(len(examples))), value=0));
    """),
    md("""
    ## 2. Attention in every cycle

    The same layer and head in each cycle, on one colour scale. Because the weights are shared, any
    change between cycles comes from the input tokens alone. Below it: how far each keypoint token
    moves from one cycle to the next ($1-\\cos$), which is what the self-distillation term shrinks.
    """),
    code("""
    ex = examples[0]
    result = run_pose(model, ex.image, ex.bbox, cycles=C, return_attention=True)
    codec = codec_for(model.config)
    points = [decode_output(o, codec)[0][0] for o in result.outputs]

    def show_cycle_attention(keypoint, layer, head):
        maps = [keypoint_attention_map(o.attention, layer, head, keypoint, geo["grid_size"]).numpy()
                for o in result.outputs]
        attention_grid_figure(result.crop, maps, [f"cycle {c}" for c in range(1, C + 1)],
                              marker=[p[keypoint] for p in points], shared_scale=True).show()

    widgets.interact(show_cycle_attention,
                     keypoint=widgets.Dropdown(options=KEYPOINT_OPTIONS, value=9, description="keypoint"),
                     layer=widgets.IntSlider(min=0, max=geo["depth"] - 1, value=geo["depth"] - 1, continuous_update=False),
                     head=widgets.Dropdown(options=["mean"] + list(range(geo["heads"])), value="mean"))
    if C > 1:
        token_change_figure(token_change_per_cycle(result.outputs).numpy()).show()
    """.replace("KEYPOINT_OPTIONS", KEYPOINT_OPTIONS)),
    md("""
    ## 3. The loss terms on labelled crops

    `SDPoseLoss` gives each term under its official name. It runs here on 8 labelled crops of the
    bundled SynthPose samples (GT heatmaps from the model's codec). Note the scales: the token terms
    are multiplied by $\\alpha = 5\\times10^{-6}$, so they are tiny next to the heatmap term. The
    official code detaches nothing, so the token term pulls both cycles towards each other. The
    non-official `SDPoseLoss(detach_target=True)` gives the same numbers, but only the earlier
    cycle receives gradient from them.
    """),
    code("""
    val = CocoKeypointDataset(SAMPLES_DIR, model.config.input_size, target_fn=CodecTargets(codec))
    batch = collate([val[i] for i in range(8)])
    weight = batch["target_weight"].unsqueeze(-1)
    with torch.no_grad():
        outs = model(batch["image"], cycles=C)
    terms = {k: float(v) for k, v in SDPoseLoss().from_cycles(outs, batch["heatmaps"], weight).items()}
    per_cycle = {f"cycle {c} heatmap MSE": float(joints_mse_loss(o.heatmaps, batch["heatmaps"], weight))
                 for c, o in enumerate(outs, start=1)}
    display(Markdown(loss_table_markdown({**terms, **per_cycle})))
    """),
    md("""
    ## 4. A short live training: with and without self-distillation

    Two students start from the same weights: the student `sdpose train --recipe sdpose` builds,
    with the bundled pretrained backbone frozen if there is one. Both train on a freshly generated
    SynthPose set for the same seeded steps. One uses the SDPose objective with weight `ALPHA`; the
    other has `ALPHA = 0` (every cycle still supervised, no token term). After every epoch we
    measure the gap between consecutive cycles' keypoint tokens ($1-\\cos$, mean over 16 fixed
    crops).

    These are tens of steps on a CPU, far too few for accuracy differences: the bundled student
    is the reference (its PCK@0.2 on the same bundled samples is printed below the table). The measured
    comparison is the table in section 5. What these steps do show: at the official α the two runs
    end **identical** to the printed digits (the last line prints their largest heatmap-loss
    difference over all steps), because the token terms are a tiny fraction of the loss (compare
    `kpt_dist_loss` and `vis_dist_loss` with `heatmap_loss` in section 3). In *both* runs the token
    gap collapses; the cell prints it before and after training. Supervising every cycle with the
    same heatmaps already makes the cycles agree; at this budget the token term adds nothing
    visible.
    """),
    code("""
    ALPHA = 5e-6               # SDPose's token weight. Exercise: try 1e-2 and rerun this cell and the next
    EPOCHS, STEPS, BATCH = 3, 8, 16

    work = tempfile.TemporaryDirectory(prefix="sdpose-nb02-")
    train_dir = generate_dataset(f"{work.name}/train", num=128, seed=1, difficulty="easy", progress=False)
    probe = collate([val[i] for i in range(16)])["image"]

    objectives = {f"SDPose (α = {ALPHA:g})": HeatmapObjective(token_weight=ALPHA),
                  "no self-distillation (α = 0)": HeatmapObjective(token_weight=0.0)}
    logs, students = {}, {}
    for name, objective in objectives.items():
        student, note = fresh_student("sdpose")
        gap0 = cycle_token_gap(student, probe)
        logs[name] = live_train(student, objective, train_dir, epochs=EPOCHS, steps_per_epoch=STEPS,
                                batch_size=BATCH, lr=1e-3, seed=0,
                                on_epoch=lambda epoch, m: cycle_token_gap(m, probe))
        logs[name].epochs.insert(0, gap0)
        students[name] = student
        print(f"{name}: {len(logs[name].steps)} steps in {logs[name].seconds:.1f} s")
    display(Markdown(note))
    """),
    code("""
    loss_curves_figure({n: log.steps for n, log in logs.items()}, keys=("heatmap_loss",), smooth=3,
                       title="heatmap loss (sum over cycles), 3-step moving average").show()
    gap_rows = {n: [{"epoch": e, "gap": float(g.mean())} for e, g in enumerate(log.epochs)] for n, log in logs.items()}
    loss_curves_figure(gap_rows, keys=("gap",), x_key="epoch", x_title="epochs trained", log_y=False,
                       title="keypoint-token gap between consecutive cycles (1 − cos)").show()
    rows = ["| run | last heatmap loss | token gap | " + " | ".join(f"PCK@0.2 cycle {c}" for c in range(1, C + 1)) + " |",
            "| --- | ---: | ---: | " + " | ".join("---:" for _ in range(C)) + " |"]
    for name, student in students.items():
        pck = [evaluate_model(student, SAMPLES_DIR, cycle=c, progress=False)["PCK@0.2"] for c in range(1, C + 1)]
        rows.append(f"| {name} | {logs[name].steps[-1]['heatmap_loss']:.5f} | {logs[name].epochs[-1].mean():.4f} | "
                    + " | ".join(f"{p:.3f}" for p in pck) + " |")
    display(Markdown("\\n".join(rows)))
    a, b = logs.values()
    same = max(abs(x["heatmap_loss"] - y["heatmap_loss"]) for x, y in zip(a.steps, b.steps))
    print(f"token gap before training {a.epochs[0].mean():.4f}; after: {a.epochs[-1].mean():.4f} (α = {ALPHA:g}) "
          f"vs {b.epochs[-1].mean():.4f} (α = 0); largest heatmap-loss difference between the runs over all steps: {same:.1e}")
    ref = {c: evaluate_model(model, SAMPLES_DIR, cycle=c, progress=False)["PCK@0.2"] for c in range(1, C + 1)}
    print(f"for reference, the bundled {geo['name']} ({'trained' if lesson.trained else 'UNTRAINED'}): "
          + ", ".join(f"PCK@0.2 cycle {c} {v:.3f}" for c, v in ref.items()))
    """),
    md("""
    ## 5. The measured table (`docs/RESULTS.md`)

    `python benchmarks/reproduce.py` trains the teacher and every student on SynthPose with several
    seeds and writes `docs/RESULTS.md`. The cell reads the file each time it runs.
    """),
    code("""
    text = read_results()
    if text is None:
        display(Markdown("**`docs/RESULTS.md` does not exist yet.** Run `python benchmarks/reproduce.py` "
                         "(or wait for the project's run) and rerun this cell."))
    else:
        display(Markdown(text))
    """),
    md("""
    **How to read it.**

    - *AP mean ± sd over seeds*: compare `sdpose` with `baseline`. They are the same student at the
      same inference cost (one pass, the "GFLOPs 1 pass" column), trained with and without the
      Multi-Cycled Transformer and its token term. SDPose's claim is that `sdpose` is higher. If
      the difference is smaller than the standard deviations, the table does not show it at this
      budget.
    - *GFLOPs all cycles vs 1 pass*: training pays for every cycle; inference does not.
    - *Teacher rows*: the ceiling a distilled student aims at. A student clearly below its teacher
      is what makes the distillation comparisons meaningful.
    - *Latency / training time*: measured on the project's 2-core CPU; see the file's header for the
      exact command.
    """),
    md("""
    ## Exercise

    Set `ALPHA = 1e-2` in section 4 and rerun the two cells. Now the token terms are large enough to
    change the training, and the two runs differ. Is the SDPose run's token gap *below* the α = 0
    run's? (When we ran it, it was not: after 3 epochs it ended well above the α = 0 run's, and the
    heatmap loss was slightly higher. The heatmap terms had already closed the gap, and the large
    visual-token term mostly perturbed the run.) Then try `ALPHA = 1.0`. With 5e-6 the official weight
    is too small for tens of steps to show anything: the paper trains 300 epochs.
    """),
    code("""
    work.cleanup()  # the generated training set lived in a temporary folder
    """),
]

# ----------------------------------------------------------------------------------------------
NB03 = [
    md("""
    # 3 · DistilPose: simulated heatmaps and token distillation

    A **heatmap** model predicts a map $H_k \\in \\mathbb{R}^{H_h\\times W_h}$ per keypoint and decodes
    its peak. Accurate, but the maps cost memory and the decoding is not differentiable. A
    **regression** model predicts the point directly, which is cheap but usually less accurate.
    DistilPose (Ye et al., CVPR 2023) trains a regression student from a heatmap teacher:

    $$L = \\underbrace{\\mathrm{SmoothL1}(\\hat p, p^{gt})}_{\\texttt{reg\\_loss}}
      + 5\\!\\times\\!10^{-4}\\big[\\mathrm{MSE}(\\mathrm{kpt}_s,\\mathrm{kpt}_t)+\\mathrm{MSE}(\\mathrm{vis}_s,\\mathrm{vis}_t)\\big]
      + 0.01\\,\\underbrace{|s - H_t[\\hat p]|}_{\\texttt{score\\_loss}}
      + 1.0\\,\\underbrace{\\mathrm{MSE}\\big(G(\\hat p,\\sigma), H_t\\big)}_{\\texttt{reg2hm\\_loss}}$$

    The student predicts, per keypoint, a location $\\hat p$, a spread $\\sigma=(\\sigma_x,\\sigma_y)$ and a
    score $s$. From $(\\hat p,\\sigma)$ it builds a *simulated heatmap* $G$ that can be compared with the
    teacher's.
    """),
    code(SETUP + """
import tempfile

from sdpose_core.data.synthpose import generate_dataset
from sdpose_core.distill import Reg2HMLoss, ScoreLoss, simulated_heatmap
from sdpose_core.interpret import box_area, distilpose_heatmap_view, oks_agreement, run_pose
from sdpose_core.interpret.teaching import (fresh_student, frozen_copy, live_train, load_examples,
                                            load_lesson_model, model_geometry, per_token_mse)
from sdpose_core.train.objectives import DistilPoseObjective, RegressionObjective
from sdpose_core.viz import PoseDrawing, heatmap_comparison_figure, loss_table_markdown, skeleton_figure
from sdpose_core.viz.heatmaps import heatmap_grid_figure, sigma_overlay_figure
from sdpose_core.viz.teaching import keypoint_bars_figure, loss_curves_figure
"""),
    code("""
    teacher_l, student_l = load_lesson_model("synth-teacher"), load_lesson_model("synth-regression")
    teacher, student = teacher_l.model, student_l.model
    display(Markdown(teacher_l.note + "\\n\\n" + student_l.note))
    examples = load_examples(count=8)
    ex = examples[0]
    t_res, s_res = run_pose(teacher, ex.image, ex.bbox), run_pose(student, ex.image, ex.bbox)
    view = distilpose_heatmap_view(s_res.outputs[0], t_res.outputs[0])
    crop, H, W = s_res.crop, *view.teacher.shape[-2:]
    print(f"teacher: {view.teacher.size} numbers per person ({len(KEYPOINT_NAMES)} maps of {H}x{W}); "
          f"student: {len(KEYPOINT_NAMES)} x 5 numbers (x, y, sigma_x, sigma_y, score)")
    """),
    md("""
    ## 1. Heatmap vs regression

    Top: the teacher's 17 heatmaps, all on one colour scale. Bottom: the regression student's
    answer for the same crop, one point and one $2\\sigma$ ellipse per keypoint (in crop pixels).
    """),
    code("""
    heatmap_grid_figure(view.teacher, KEYPOINT_NAMES).show()
    sigma_overlay_figure(crop, view.centers_in_crop(crop.shape[:2]), view.sigma_in_crop(crop.shape[:2])).show()
    """),
    md("""
    ## 2. Build a simulated heatmap yourself

    $$G_{yx} = \\exp\\Big(-\\tfrac12\\Big[\\tfrac{(x-\\mu_x)^2}{\\sigma_x^2} + \\tfrac{(y-\\mu_y)^2}{\\sigma_y^2}\\Big]\\Big),\\qquad \\mu = (W\\hat p_x,\\, H\\hat p_y)\\ \\text{in heatmap pixels.}$$

    It has peak 1 at $\\mu$, like the teacher's training targets. The sliders start at the student's
    prediction for the chosen keypoint. Move $\\mu$ onto the teacher's peak and match $\\sigma$ to its
    width, and watch `reg2hm_loss` fall (`Reg2HMLoss`, official weighting). The title also shows the
    **score target**, the teacher's value at the nearest pixel (`ScoreLoss`).

    Peak 1 and the head's own $\\sigma$ are the official form (`Reg2HMLoss()`, the
    `distilpose-official` recipe), and that is what the sliders draw. The bundled
    `synth-regression` was trained with the `distilpose` recipe, which changes only how $G$ is
    drawn: it peaks at the teacher map's own maximum, with $\\sigma + 1$ px
    (`Reg2HMLoss(amplitude="teacher_peak", min_sigma=1.0)`); the loss table of section 3 uses that
    form. Why: `docs/training.md`, section *DistilPose's σ trap*.
    """),
    code("""
    k0 = 0

    def show_simulated(keypoint, mu_x, mu_y, sigma_x, sigma_y):
        coords = torch.tensor([[[mu_x / W, mu_y / H]]])   # normalised (x, y), as the student outputs it
        sigma = torch.tensor([[[sigma_x, sigma_y]]])
        hm_t = torch.as_tensor(view.teacher[keypoint])[None, None]
        sim = simulated_heatmap(coords, sigma, (H, W))[0, 0].numpy()
        loss = float(Reg2HMLoss()(coords, sigma, hm_t, torch.ones(1, 1, 2)))
        target = float(ScoreLoss().teacher_score(coords, hm_t)[0])
        title = f"{KEYPOINT_NAMES[keypoint]}: reg2hm_loss {loss:.5f} · score target H_t[p̂] = {target:.3f}"
        heatmap_comparison_figure(view.teacher[keypoint], sim, np.array([mu_x, mu_y]),
                                  np.array([sigma_x, sigma_y]), title=title).show()

    slider = dict(continuous_update=False, readout_format=".2f")
    widgets.interact(show_simulated,
                     keypoint=widgets.Dropdown(options=KEYPOINT_OPTIONS, value=k0, description="keypoint"),
                     mu_x=widgets.FloatSlider(min=0, max=W, step=0.25, value=float(np.clip(view.centers[k0, 0], 0, W)), **slider),
                     mu_y=widgets.FloatSlider(min=0, max=H, step=0.25, value=float(np.clip(view.centers[k0, 1], 0, H)), **slider),
                     sigma_x=widgets.FloatSlider(min=0.3, max=8, step=0.1, value=float(np.clip(view.sigma[k0, 0], 0.3, 8)), **slider),
                     sigma_y=widgets.FloatSlider(min=0.3, max=8, step=0.1, value=float(np.clip(view.sigma[k0, 1], 0.3, 8)), **slider));
    """.replace("KEYPOINT_OPTIONS", KEYPOINT_OPTIONS)),
    md("""
    ## 3. Token distillation

    Teacher and student share the token geometry (same grid, same width $D$). So the student's
    final tokens can be pulled towards the teacher's token by token, for the keypoint tokens and for
    the visual tokens (the "token-distilling encoder"):

    $$L_{tok} = 5\\times10^{-4}\\,\\big[\\mathrm{MSE}(\\mathrm{kpt}_s, \\mathrm{kpt}_t) + \\mathrm{MSE}(\\mathrm{vis}_s, \\mathrm{vis}_t)\\big].$$

    The bars show, per keypoint, the mean squared difference between the student's and the teacher's
    keypoint token on this crop. The table lists every DistilPose term for the crop. There is no
    `reg_loss`, which needs a label: the explorer's *Heatmaps* tab shows the same view.
    """),
    code("""
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
    """),
    md("""
    ## 4. The score target

    A regression student has no heatmap peak to use as its confidence, so it predicts a score $s$.
    DistilPose trains $s$ towards **the teacher's heatmap value where the student points**,
    $s \\to H_t[\\mathrm{round}(\\hat p)]$ with an L1 loss. A student pointing at the right place gets
    a high target; a student pointing at the background gets a target near 0. Its confidence
    therefore learns to track its own error.
    """),
    code("""
    keypoint_bars_figure({"student score σ(s)": view.score, "teacher value at the student's point": view.teacher_value},
                         "score").show()
    """),
    md("""
    ## 5. Teacher vs student on examples

    The label, the teacher, and the student on each bundled example. The OKS agreement is 1 when the
    student puts every keypoint where the teacher does; the cell prints it for each example.

    A regression student can fail by ignoring the image: it ends at the *mean pose*, nearly the
    same skeleton placed inside every box. On these centred crops such a student can still get a
    fair-looking OKS, so the cell also measures how much each model's keypoints move from person to
    person (box-normalised), and the range of the student's scores. A student that ignores the
    image has a small spread on both. The bundled student follows the person: the printed spread
    of its keypoints is close to the teacher's and the labels'. (A DistilPose student trained with
    the official loss put one pose in every crop for its first epochs, and with a weaker teacher
    for good: `docs/training.md`, *DistilPose's σ trap*.)
    """),
    code("""
    def box_normalised(points, bbox):
        return (np.asarray(points) - bbox[:2]) / bbox[2:]

    spread = {"label": [], "teacher": [], "student": []}
    student_scores, agreement = [], []
    for e in examples:
        t, s = run_pose(teacher, e.image, e.bbox), run_pose(student, e.image, e.bbox)
        agreement.append(oks_agreement(s.keypoints, t.keypoints, box_area(e.bbox, e.image.shape[:2])))
        spread["label"].append(np.where(e.label_visible()[:, None] > 0, box_normalised(e.keypoints[:, :2], e.bbox), np.nan))
        spread["teacher"].append(box_normalised(t.keypoints, e.bbox))
        spread["student"].append(box_normalised(s.keypoints, e.bbox))
        student_scores.append(s.scores)
    print("how far keypoints move between the persons (std over the examples, box-normalised, mean over keypoints):")
    for name, pts in spread.items():
        print(f"  {name:>8}: {np.nanmean(np.nanstd(np.stack(pts), axis=0)):.3f}")
    print(f"student scores: {np.min(student_scores):.3f} to {np.max(student_scores):.3f}")
    print("student OKS vs teacher per example: " + ", ".join(f"{a:.2f}" for a in agreement))

    def show_pair(example):
        e = examples[example]
        t, s = run_pose(teacher, e.image, e.bbox), run_pose(student, e.image, e.bbox)
        agree = oks_agreement(s.keypoints, t.keypoints, box_area(e.bbox, e.image.shape[:2]))
        poses = [PoseDrawing("label", e.label_xy(), e.label_visible(), color="#2ca02c"),
                 PoseDrawing("teacher (heatmaps)", t.keypoints, t.scores),
                 PoseDrawing(f"student (regression), OKS vs teacher {agree:.2f}", s.keypoints, s.scores)]
        skeleton_figure(e.image, poses, height=420).show()

    widgets.interact(show_pair, example=widgets.Dropdown(options=list(range(len(examples))), value=0));
    """),
    md("""
    ## 6. A few live steps: regression alone vs DistilPose

    Two identical regression students train on a generated SynthPose set for the same seeded steps.
    One learns from the labels only (`RegressionObjective`); the other also learns from the frozen
    teacher (`DistilPoseObjective`, official weights except `ALPHA`, the `reg2hm` weight, and the
    official peak-1 simulated heatmap of section 2). Both curves show `reg_loss`, the label term
    they share.
    """),
    code("""
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
    """),
    md("""
    ## Exercise

    Set `ALPHA = 0.0` in section 6 (no simulated-heatmap term) and rerun. Then try `ALPHA = 10.0`.
    Which run's `reg_loss` falls fastest over these few steps? The simulated-heatmap term pulls the
    student towards the teacher's maps, mistakes included (the teacher's AP is in its note at the
    top). Then add `amplitude="teacher_peak", min_sigma=1.0` to the `DistilPoseObjective(...)` call,
    the form the bundled student was trained with, and rerun. Every step also logs `sigma_mean`
    (the σ the simulated heatmap is drawn with) and `coord_batch_std` (how much the predicted
    coordinates vary over the batch) in `logs[name].steps`. Which form keeps σ above a pixel, and
    do the coordinates of both runs keep following the image? (`docs/training.md`, *DistilPose's
    σ trap*, says what to look for.)
    """),
]

# ----------------------------------------------------------------------------------------------
NB04 = [
    md("""
    # 4 · DWPose: two-stage distillation of SimCC students

    DWPose (Yang et al., ICCVW 2023) distils RTMPose-style **SimCC** students. Instead of a 2-D
    heatmap, SimCC classifies the x and the y coordinate separately over $r\\times$ finer bins
    (split ratio $r = 2$):

    $$\\ell^x_b = \\exp\\Big(-\\frac{(b - \\mathrm{round}(r\\,x))^2}{2\\sigma_x^2}\\Big),\\qquad \\hat x = \\frac{\\arg\\max_b\\, s^x_b}{r}\\quad(\\text{same for } y).$$

    **Stage 1** adds feature and logit distillation to the label loss, with a weight $r(e)$ that
    decays over the epochs:

    $$L_1 = L_{gt} + r(e)\\Big(\\alpha\\,\\frac{\\lVert \\mathrm{align}(F_s) - F_t\\rVert^2}{N} + 0.1\\,\\mathrm{KD}\\Big),\\quad
      \\mathrm{KD} = \\frac1K\\sum_{a\\in\\{x,y\\}}\\sum_k \\mathrm{KL}\\big(\\mathrm{softmax}(\\beta t)\\,\\|\\,\\mathrm{softmax}(\\beta s)\\big),\\quad r(e) = 1-\\frac{e}{E}.$$

    **Stage 2** freezes the student's backbone and trains the head alone with $L_2 = \\mathrm{KD}$,
    distilling the stage-1 student into itself.
    """),
    code(SETUP + """
import tempfile

from sdpose_core.data.synthpose import generate_dataset
from sdpose_core.data.topdown import CocoKeypointDataset, collate
from sdpose_core.distill import DWPoseStage1Loss, stage1_decay
from sdpose_core.evaluate.predict import codec_for
from sdpose_core.interpret import box_area, oks_agreement, run_pose
from sdpose_core.interpret.teaching import (SAMPLES_DIR, family_loss_terms, fresh_student, frozen_copy, live_train,
                                            load_examples, load_lesson_model, read_results, results_rows,
                                            simcc_probabilities)
from sdpose_core.train.objectives import token_grid_features
from sdpose_core.train.recipes import build_objective, get_recipe
from sdpose_core.train.targets import CodecTargets
from sdpose_core.viz import PoseDrawing, loss_table_markdown
from sdpose_core.viz.convergence import snapshot_slider_figure
from sdpose_core.viz.teaching import decay_schedule_figure, loss_curves_figure, loss_terms_figure, simcc_axes_figure
"""),
    code("""
    teacher_l, student_l = load_lesson_model("synth-simcc-teacher"), load_lesson_model("synth-simcc")
    teacher, student = teacher_l.model, student_l.model
    display(Markdown(teacher_l.note + "\\n\\n" + student_l.note))
    codec = codec_for(student.config)
    val = CocoKeypointDataset(SAMPLES_DIR, student.config.input_size, target_fn=CodecTargets(codec))
    item = val[0]
    batch = collate([val[i] for i in range(8)])
    with torch.no_grad():
        s_out, t_out = student(batch["image"], cycles=1)[0], teacher(batch["image"], cycles=1)[0]
    s_pts, t_pts = codec.decode(s_out.simcc_x[:1], s_out.simcc_y[:1])[0][0], codec.decode(t_out.simcc_x[:1], t_out.simcc_y[:1])[0][0]
    print(f"{codec.num_bins[0]} x-bins and {codec.num_bins[1]} y-bins for a {student.config.input_size[1]}x"
          f"{student.config.input_size[0]} crop (split ratio {codec.split_ratio:g}); sigma {tuple(round(v, 2) for v in codec.sigma)} bins")
    """),
    md("""
    ## 1. SimCC labels and decoding

    For the chosen keypoint of the first bundled crop: the label as the loss sees it,
    $\\mathrm{softmax}(\\beta\\,\\ell)$, and the student's and teacher's $\\mathrm{softmax}(\\beta\\,s)$. The
    vertical lines mark the labelled position and the student's decode (argmax / $r$). A larger
    $\\beta$ sharpens every distribution; DWPose and RTMPose use $\\beta = 10$.
    """),
    code("""
    def show_simcc(keypoint, beta):
        x_curves = {"label": simcc_probabilities(item["simcc_x"][keypoint], beta),
                    "student": simcc_probabilities(s_out.simcc_x[0, keypoint], beta),
                    "teacher": simcc_probabilities(t_out.simcc_x[0, keypoint], beta)}
        y_curves = {"label": simcc_probabilities(item["simcc_y"][keypoint], beta),
                    "student": simcc_probabilities(s_out.simcc_y[0, keypoint], beta),
                    "teacher": simcc_probabilities(t_out.simcc_y[0, keypoint], beta)}
        marks = {"label": tuple(item["keypoints"][keypoint].tolist()), "student decode": tuple(s_pts[keypoint])}
        visible = "labelled" if float(item["visible"][keypoint]) > 0 else "NOT labelled (all-zero label)"
        simcc_axes_figure(x_curves, y_curves, codec.split_ratio, marks,
                          title=f"{KEYPOINT_NAMES[keypoint]} ({visible}), β = {beta:g}").show()

    widgets.interact(show_simcc,
                     keypoint=widgets.Dropdown(options=KEYPOINT_OPTIONS, value=0, description="keypoint"),
                     beta=widgets.FloatSlider(min=1, max=20, step=1, value=10, continuous_update=False));
    """.replace("KEYPOINT_OPTIONS", KEYPOINT_OPTIONS)),
    md("""
    ## 2. Feature + logit distillation and the r(e) schedule

    `DWPoseStage1Loss` on 8 labelled crops. The student's "last backbone stage" is its final visual
    tokens laid out on the patch grid (`token_grid_features`). A 1×1 conv aligns its channels to the
    teacher's; that conv is random here, and trained with the student in a real run. Move the
    epoch: the label term stays, while both distillation terms shrink with $r(e)$. The decay never
    reaches 0, because the last epoch is $E-1$.
    """),
    code("""
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
        decay_schedule_figure(epochs, [stage1_decay(e, max_epochs) for e in epochs], current=epoch).show()
        display(Markdown(loss_table_markdown({k: float(v) for k, v in terms.items()})))

    widgets.interact(show_decay, max_epochs=widgets.IntSlider(min=2, max=420, value=420, continuous_update=False),
                     epoch=widgets.IntSlider(min=0, max=419, value=100, continuous_update=False));
    """),
    md("""
    ## 3. Two stages, live: do the predictions converge?

    A short run of both stages with the same recipes `sdpose train --recipe dwpose-s1 / dwpose-s2`
    uses (`build_objective`), on a freshly generated SynthPose set:

    - **stage 1**: a fresh SimCC student (pretrained backbone frozen if bundled) learns from the
      labels, the teacher's features and the teacher's logits, for `E1` short epochs, so $r(e)$ runs
      from 1 to $1/E_1$;
    - **stage 2**: a copy of the stage-1 student gets a new head. Its backbone, encoder and
      BatchNorm statistics are frozen, and the head learns from the frozen stage-1 model's logits
      only.

    After every epoch the student runs on one bundled crop. The slider steps through the
    snapshots, and the second plot tracks their OKS agreement with the teacher. Do not expect a
    smooth climb from 36 steps: the last line prints the agreement of every snapshot, and it
    wanders from epoch to epoch. For comparison, the same line ends with the agreement of the
    bundled `synth-simcc` (the same two stages in a full training run), which is far higher.
    """),
    code("""
    KD_WEIGHT = 0.1         # stage-1 logit weight (official 0.1). Exercise: try 1.0 and rerun
    E1, E2, STEPS, BATCH = 4, 2, 6, 16
    work = tempfile.TemporaryDirectory(prefix="sdpose-nb04-")
    train_dir = generate_dataset(f"{work.name}/train", num=128, seed=1, difficulty="easy", progress=False)
    ex = load_examples(count=1)[0]
    area = box_area(ex.bbox, ex.image.shape[:2])
    t_pose = run_pose(teacher, ex.image, ex.bbox)

    def snapshot(stage):
        def record(epoch, model):
            r = run_pose(model, ex.image, ex.bbox)
            return {"label": f"stage {stage} · epoch {epoch + 1}", "pose": r,
                    "oks": oks_agreement(r.keypoints, t_pose.keypoints, area)}
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
    display(Markdown(note + f"\\n\\n| stage | trainable parameters | steps | seconds |\\n| --- | ---: | ---: | ---: |\\n"
                     f"| 1 | {trainable(s1):,} | {len(log1.steps)} | {log1.seconds:.1f} |\\n"
                     f"| 2 (head only) | {trainable(s2):,} | {len(log2.steps)} | {log2.seconds:.1f} |"))
    """),
    code("""
    loss_curves_figure({"stage 1": log1.steps}, keys=("loss_kpt", "loss_fea", "loss_logit", "decay"),
                       title="stage 1: label loss, decayed feature and logit terms, and r(e)").show()
    snaps = log1.epochs + log2.epochs
    poses = [PoseDrawing("teacher", t_pose.keypoints, t_pose.scores)]
    poses += [PoseDrawing(f"{s['label']} (OKS vs teacher {s['oks']:.2f})", s["pose"].keypoints, s["pose"].scores) for s in snaps]
    snapshot_slider_figure(ex.image, poses, height=460).show()
    loss_curves_figure({"student vs teacher": [{"step": i + 1, "OKS": s["oks"]} for i, s in enumerate(snaps)]},
                       keys=("OKS",), log_y=False, x_title="snapshot (stage 1 epochs, then stage 2 epochs)",
                       title="agreement with the teacher after each epoch").show()
    bundled = oks_agreement(run_pose(student, ex.image, ex.bbox).keypoints, t_pose.keypoints, area)
    print("OKS vs teacher per snapshot: " + ", ".join(f"{s['oks']:.2f}" for s in snaps)
          + f"; the bundled {student_l.name} ({'trained' if student_l.trained else 'UNTRAINED'}): {bundled:.2f}")
    work.cleanup()
    """),
    md("""
    ## Exercise

    Set `KD_WEIGHT = 1.0` in section 3 (ten times the official logit weight) and rerun the two
    cells. Does the agreement with the teacher rise faster? Then set `E1 = 8`. The schedule $r(e)$
    decays more slowly per epoch, so distillation stays strong for longer.
    """),
    md("""
    ## 4. The distillation family on the same SimCC student: NKD, tf-NKD, ViTKD, MGD

    Four general losses by Zhendong Yang et al. (`docs/distillation.md`), written as recipes for
    the same `synth-simcc` student. Each adds its loss with weight 1 to the GT loss `loss_kpt`. For
    NKD and tf-NKD a row is one (crop, keypoint, axis). $S$ and $T$ are the student's and teacher's
    $\\mathrm{softmax}(\\beta s)$ over its bins, $t$ is the bin where the label peaks, and $\\hat S$,
    $\\hat T$ are the softmax over the non-target bins only.

    - **NKD** (`loss_nkd_target` + `loss_nkd_non_target`):
      $$\\mathrm{NKD} = \\operatorname{mean}_{\\text{rows}}\\Big[-T_t\\log S_t \\;-\\; \\gamma\\,\\tau^2\\sum_{j\\ne t}\\hat T_j\\log\\hat S_j\\Big]$$
    - **tf-NKD**, no teacher: the soft target comes from the student's own confidence (sg = stop-gradient):
      $$\\text{tf-NKD} = \\operatorname{mean}_{\\text{rows}}\\big[-w_t\\log S_t\\big],\\qquad w_t = \\operatorname{sg}\\big(S_t + 1 - \\operatorname{mean}_{\\text{rows}} S_t\\big)$$
    - **ViTKD**: *mimic* the visual tokens of layers 0 and 1, *generate* the final ones from a masked copy:
      $$L_{\\text{mimic}} = \\frac{\\alpha}{B}\\sum_{l\\in\\{0,1\\}}\\lVert A_l(S_l) - T_l\\rVert_2^2,\\qquad
      L_{\\text{gen}} = \\frac{\\beta}{\\lambda B}\\sum_{b,n} M_{bn}\\,\\big\\lVert G\\big(\\mathrm{grid}(\\tilde S)\\big)_{bn} - T^{\\text{deep}}_{bn}\\big\\rVert_2^2$$
    - **MGD**: regenerate the teacher's final token grid from a randomly masked student grid:
      $$L_{\\text{mgd}} = \\frac{\\alpha}{N}\\sum\\big(G(\\mathrm{align}(F_s)\\odot M) - F_t\\big)^2,\\qquad M_{n,1,h,w}\\sim\\mathrm{Bernoulli}(1-\\lambda)$$

    `family_loss_terms` builds each recipe's objective exactly as `sdpose train --recipe R` does
    (`build_objective`, i.e. `sdpose_core/train/objectives_family.py`) and calls it once, without
    gradients, on the 8 bundled crops of `batch` (setup cell) with the bundled `synth-simcc` and
    `synth-simcc-teacher`. The aligners, mask token and generation blocks are freshly initialised
    (seeded), so these are the values at step 1 of a run. The axis is logarithmic. NKD and
    tf-NKD are cross-entropies of single bins among a few hundred, while `loss_kpt`
    (`KLDiscretLoss`) averages over the bins. NKD's non-target term also includes the teacher's
    non-target entropy (about γ·log(bins − 1) per axis), a constant without gradient.
    """),
    code("""
    family = family_loss_terms(student, teacher, batch)  # recipe -> {term: value}; no loss maths in this notebook
    loss_terms_figure(family, title="each recipe's loss terms at step 1, 8 bundled crops (bars: value, log axis)").show()
    gt = family["nkd"]["loss_kpt"]  # the same student and batch for all four
    print(f"loss_kpt {gt:.3f}; the recipe's distillation loss (total − loss_kpt) over loss_kpt: "
          + ", ".join(f"{r} {(t['total'] - t['loss_kpt']) / gt:.2g}×" for r, t in family.items()))
    """),
    md("""
    The measured table, read from `docs/RESULTS.md` each time the cell runs: the family's rows,
    with the SimCC baseline, DWPose stage 1 and the teacher on the same student for comparison.
    """),
    code("""
    FAMILY_RUNS = ["simcc", "dwpose-s1", "nkd", "tf-nkd", "vitkd", "mgd", "simcc-teacher"]
    text = read_results()
    table = None if text is None else results_rows(text, FAMILY_RUNS)
    if table is None:
        display(Markdown("**`docs/RESULTS.md` is missing or has no distillation-family rows yet.** Run "
                         "`python benchmarks/reproduce.py` (or wait for the project's run) and rerun this cell."))
    else:
        display(Markdown(table))
    """),
    md("""
    `docs/RESULTS.md`, section *The distillation family on the same SimCC student*, compares these
    rows with `simcc` gain by gain and warns that the baseline's seed-to-seed spread is as large as
    several of the gains, so read the per-seed column before ranking the means. It also says what
    the numbers are consistent with (tf-NKD helps with no teacher at all; ViTKD's shallow-token
    mimicking and deep-token generation give the transformer extra supervision per token) and
    which experiments were not run.

    **Watching one of these runs in the explorer.** Train with any family recipe. `--out` keeps the
    run's `history/epoch_*.pt` snapshots and `metrics.jsonl`. Then open the folder in the
    explorer's *Distillation stages* tab, whose slider steps through the snapshots on a photo
    above the run's AP and loss curves:

    ```bash
    sdpose train --recipe vitkd --data synth/train --val synth/val \\
        --teacher data_samples/checkpoints/synth-simcc-teacher.pt --out runs/vitkd
    python -m explorer --runs runs/vitkd
    ```

    (`--recipe nkd`, `mgd` the same way; `tf-nkd` needs no `--teacher`.)

    *Exercise:* call `family_loss_terms(student, teacher, batch, seed=1)`. Which terms change, and
    why only those?
    """),
]

# ----------------------------------------------------------------------------------------------
NB05 = [
    md("""
    # 5 · Debugging tokens with captum

    Attention maps show where a token *looks*; attributions show which pixels *change the answer*.
    `sdpose_core.interpret.attribution.keypoint_attribution` explains one number per keypoint, the
    model's confidence in it (the heatmap value at the predicted peak), with respect to the input
    crop:

    - **saliency**: $|\\partial f/\\partial x|$;
    - **integrated gradients** (Sundararajan et al. 2017), from a black image $x'$:
      $\\mathrm{IG}_i(x) = (x_i - x'_i)\\int_0^1 \\frac{\\partial f(x' + a(x - x'))}{\\partial x_i}\\,da$
      (16 steps);
    - **occlusion**: how much $f$ drops when a black patch covers each region.

    We compare the heatmap teacher with the SDPose student, find the student's worst failures on the
    bundled samples, and check whether they are **left/right swaps** or **occlusions**.
    """),
    code(SETUP + """
from sdpose_core.evaluate.predict import codec_for, decode_output
from sdpose_core.interpret import run_pose
from sdpose_core.interpret.attribution import METHODS, keypoint_attribution
from sdpose_core.interpret.teaching import (SAMPLES_DIR, load_examples, load_lesson_model, occlude, rank_cases,
                                            swap_left_right)
from sdpose_core.viz import PoseDrawing, skeleton_figure
from sdpose_core.viz.teaching import keypoint_bars_figure, overlay_figure
"""),
    code("""
    teacher_l, student_l = load_lesson_model("synth-teacher"), load_lesson_model("synth-student")
    teacher, student = teacher_l.model, student_l.model
    display(Markdown(teacher_l.note + "\\n\\n" + student_l.note))
    assert tuple(teacher.config.input_size) == tuple(student.config.input_size), "the overlays assume one crop size"
    examples = load_examples()

    def crop_point(model, result, keypoint):
        return decode_output(result.outputs[0], codec_for(model.config))[0][0][keypoint]

    def explain(image, bbox, keypoint, method="integrated_gradients", title=""):
        results = [run_pose(m, image, bbox) for m in (teacher, student)]
        maps = [keypoint_attribution(m, image, keypoint, bbox, method=method) for m in (teacher, student)]
        points = [crop_point(m, r, keypoint) for m, r in zip((teacher, student), results)]
        name = KEYPOINT_NAMES[keypoint]
        prefix = f"{title}: " if title else ""
        overlay_figure(results[0].crop, maps, [f"{prefix}teacher · {name} · {method}", f"{prefix}student · {name} · {method}"],
                       points=points).show()
    """),
    md("""
    ## 1. Attributions per keypoint, teacher vs student

    Each map is |attribution| summed over colour and scaled to max 1. The cross is the model's
    prediction for the keypoint. A healthy map is bright around the joint and along the limbs that
    lead to it. A map bright somewhere else shows the model using context, which can be a good
    thing (the other side of the body) or a bad one (clutter).
    """),
    code("""
    def show_attribution(example, keypoint, method):
        e = examples[example]
        explain(e.image, e.bbox, keypoint, method)

    widgets.interact(show_attribution,
                     example=widgets.Dropdown(options=list(range(len(examples))), value=0),
                     keypoint=widgets.Dropdown(options=KEYPOINT_OPTIONS, value=9, description="keypoint"),
                     method=widgets.Dropdown(options=list(METHODS), value="integrated_gradients"));
    """.replace("KEYPOINT_OPTIONS", KEYPOINT_OPTIONS)),
    md("""
    ## 2. Finding failure cases

    `rank_cases` runs a model over every bundled sample and sorts the people by OKS against the
    label, worst first. For each one it also computes the OKS of the prediction with **every
    left/right keypoint exchanged**: if that fits much better, the model has mirrored the person.
    It also counts the keypoints that are labelled but hidden (COCO $v = 1$, occluded).

    A person both models get wrong is a *hard example*. A person the teacher gets right and the
    student does not is a failure of the *student*, which is what distillation should fix. So the
    case explained below is a left/right swap if the student made one. Otherwise it is the person,
    among the student's ten worst, where the student falls furthest below the teacher. The last
    line compares persons with many occluded keypoints with the rest.
    """),
    code("""
    cases = rank_cases(student, SAMPLES_DIR)
    teacher_oks = {c.index: c.oks for c in rank_cases(teacher, SAMPLES_DIR)}
    rows = ["| instance | student OKS | teacher OKS | student OKS if left/right swapped | occluded keypoints | worst keypoint |",
            "| ---: | ---: | ---: | ---: | ---: | --- |"]
    for c in cases[:6]:
        k = c.worst_keypoint()
        rows.append(f"| {c.index} | {c.oks:.3f} | {teacher_oks[c.index]:.3f} | {c.oks_swapped:.3f}{' ⇄' if c.swapped else ''} "
                    f"| {int(c.occluded.sum())} | {KEYPOINT_NAMES[k]} ({c.errors[k]:.1f} px) |")
    display(Markdown("\\n".join(rows)))
    swap = next((c for c in cases if c.swapped), None)
    case = swap or max(cases[:10], key=lambda c: teacher_oks[c.index] - c.oks)
    print("a left/right swap:" if swap else "no clear left/right swap among the samples. Among the student's ten worst, "
          f"the teacher does best on this one (teacher OKS {teacher_oks[case.index]:.3f}):", case.summary())
    many = np.array([c.occluded.sum() >= 4 for c in cases])
    student_oks = np.array([c.oks for c in cases])
    print(f"mean student OKS: {student_oks[many].mean():.3f} on the {many.sum()} persons with ≥ 4 occluded keypoints, "
          f"{student_oks[~many].mean():.3f} on the other {(~many).sum()}; over all {len(cases)}: {np.nanmean(student_oks):.3f} "
          f"(teacher {np.nanmean(list(teacher_oks.values())):.3f})")
    """),
    md("""
    ## 3. Explaining the failure

    Left: the label. Middle: the student's prediction. Right: the same prediction with left and
    right exchanged. If the right panel matches the label, the student found the body but mirrored
    it, which is the classic swap. SynthPose draws face cues (nose, eyes, ears) so that left and
    right are decidable from the head. Below: the error per keypoint for teacher and student;
    occluded keypoints are marked. Then the attributions of the worst keypoint: does the student
    look at the face, or only at the limb?
    """),
    code("""
    e = examples[case.index]
    worst = case.worst_keypoint()
    poses = [PoseDrawing("label", e.label_xy(), e.label_visible(), color="#2ca02c"),
             PoseDrawing(f"student (OKS {case.oks:.2f})", case.keypoints, np.ones(len(KEYPOINT_NAMES))),
             PoseDrawing(f"student, left/right swapped (OKS {case.oks_swapped:.2f})", swap_left_right(case.keypoints),
                         np.ones(len(KEYPOINT_NAMES)))]
    skeleton_figure(e.image, poses, height=420).show()
    t_case = next(c for c in rank_cases(teacher, SAMPLES_DIR) if c.index == case.index)
    keypoint_bars_figure({"teacher": t_case.errors, "student": case.errors}, "error (image px)", occluded=case.occluded).show()
    explain(e.image, e.bbox, worst, title="worst keypoint")
    """),
    md("""
    ## 4. A controlled occlusion

    Now make a failure on purpose: paint a grey square of `OCCLUDER` pixels over one labelled
    keypoint and compare the student's prediction and attribution before and after. A robust model
    moves little and takes its evidence from the neighbouring limbs. A brittle one jumps, or keeps
    looking at the grey square.
    """),
    code("""
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
    explain(hidden, e.bbox, KEYPOINT, title="occluded")
    """),
    md("""
    ## Exercise

    Change `OCCLUDER` to 8 and then 48 and rerun section 4. At what size does the prediction jump?
    Then set `KEYPOINT = 0` (nose). Hiding the face is what makes left and right hard to tell apart.
    Does the worst case of section 2 become a swap?

    *The bundled models were trained on SynthPose only (their AP is in the notes at the top). The
    last line of section 2 prints their mean OKS over all the samples; the cases in its table are
    the student's worst, well below that mean. With untrained weights (no checkpoint bundled) the
    maps are diffuse and every person is a failure.*
    """),
]

NOTEBOOKS = {
    "01_keypoint_tokens.ipynb": NB01,
    "02_sdpose_multi_cycle.ipynb": NB02,
    "03_distilpose_simulated_heatmaps.ipynb": NB03,
    "04_dwpose_two_stages.ipynb": NB04,
    "05_debugging_tokens_with_captum.ipynb": NB05,
}


def build(folder: Path = HERE) -> list[Path]:
    written = []
    for name, cells in NOTEBOOKS.items():
        nb = new_notebook(cells=cells, metadata={
            "kernelspec": {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"},
            "language_info": {"name": "python"}})
        for i, cell in enumerate(nb.cells):  # stable ids: rebuilding gives identical files
            cell["id"] = f"{name[:2]}-{i:02d}"
        nbformat.validate(nb)
        path = folder / name
        path.write_text(nbformat.writes(nb) + "\n", encoding="utf-8")
        written.append(path)
    return written


if __name__ == "__main__":
    for p in build():
        print(p.relative_to(HERE.parent))
