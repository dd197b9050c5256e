"""Token attention tab: a keypoint token's attention over the patches, per cycle, and its rollout."""
from __future__ import annotations

import gradio as gr
import plotly.graph_objects as go

from sdpose_core.data.coco_meta import KEYPOINT_NAMES
from sdpose_core.data.transforms import apply_affine
from sdpose_core.interpret import (cycle_rollouts, keypoint_attention_map, keypoint_rollout_map, patch_grid,
                                   ratio_to_uniform, token_change_per_cycle)
from sdpose_core.viz import attention_grid_figure, empty_figure, titled, token_change_figure

from ..inputs import parse_box, read_image
from ..models import ModelSet
from ..selector import SnapshotSelector, follow, selection_inputs
from ..snapshots import use_snapshot
from ..ui import guarded

OUTPUTS = ("plot", "plot", "plot", "md")


def _keypoint_index(keypoint) -> int:
    if isinstance(keypoint, str):
        return KEYPOINT_NAMES.index(keypoint) if keypoint in KEYPOINT_NAMES else int(keypoint)
    return int(keypoint or 0)


NOTES = ("Colours: attention as a ratio to uniform attention (a keypoint token spreading its attention "
         "evenly over all {tokens} tokens gives each 1/{tokens}; a rollout row spread evenly over the {patches} "
         "patches gives each 1/{patches}): red = more than that share, blue = less, no colour = uniform. The "
         "scale spans at least ×1/4 … ×4, so noise around uniform stays faint. Crosses: the model's "
         "prediction for this keypoint at each cycle. Rollout: attention multiplied through the layers "
         "with the residual identity (Abnar & Zuidema); *cycle {cycle}'s layers* rolls out that cycle "
         "alone, *through cycles 1–{cycle}* every layer from the input patches on (cycle N reads cycle "
         "N − 1's tokens).")


def _maps(res, loaded, cycle: int, layer: int, head, k: int) -> tuple[list, list]:
    """Ratio-to-uniform maps: the selected layer of every cycle, and the two rollouts of ``cycle``."""
    grid = patch_grid(loaded.model)
    tokens = res.outputs[0].attention[0].shape[-1]
    per_cycle = [ratio_to_uniform(keypoint_attention_map(o.attention, layer, head, k, grid), tokens)
                 for o in res.outputs]
    within, cumulative = cycle_rollouts([o.attention for o in res.outputs], cycle, head)
    rolled = [ratio_to_uniform(keypoint_rollout_map(r, k, grid), grid[0] * grid[1]) for r in (within, cumulative)]
    return per_cycle, rolled


@guarded(*OUTPUTS)
def attention(models: ModelSet, image_path, box_text: str | None, role: str = "student", cycle: int = 1,
              layer: int = -1, head: str | int = "mean", keypoint: int | str = 0, run: str | None = None,
              snapshot: str | None = None) -> tuple[go.Figure, go.Figure, go.Figure, str]:
    """Selected map + both rollouts, all cycles as small multiples, token change per cycle, notes.
    ``run`` + ``snapshot``: a saved snapshot that replaces a student ``role`` (``use_snapshot``)."""
    image = read_image(image_path)
    box = parse_box(box_text, image.shape[:2])
    role, caption = use_snapshot(models, role, run, snapshot)
    loaded = models.get(role)
    cfg = loaded.model.config
    if cfg.model_type == "cnn":
        raise ValueError(f"{loaded.label} has no tokens and no attention to show (a CNN or a model that runs "
                         "outside PyTorch); pick a token model: " + ", ".join(_token_roles(models)))
    res = models.result(role, image, box, attention=True)
    k = _keypoint_index(keypoint)
    cycle = int(min(max(1, int(cycle)), len(res.outputs)))
    layer = int(min(int(layer), cfg.depth - 1))
    head = head if head == "mean" else int(head)
    name = KEYPOINT_NAMES[k]
    points = [apply_affine(res.cycle_keypoints(loaded.model, c + 1)[0][k], res.meta["matrix"])
              for c in range(len(res.outputs))]
    per_cycle, rolled = _maps(res, loaded, cycle, layer, head, k)
    top = attention_grid_figure(res.crop, [per_cycle[cycle - 1], *rolled],
                                [f"cycle {cycle}, layer {layer % cfg.depth}, head {head}: {name}",
                                 f"rollout, cycle {cycle}'s layers only", f"rollout through cycles 1–{cycle}"],
                                marker=[points[cycle - 1]] * 3, ratio=True)
    cycles_fig = attention_grid_figure(res.crop, per_cycle, [f"cycle {c + 1}" for c in range(len(per_cycle))],
                                       marker=points, height=380, ratio=True)
    if len(res.outputs) > 1:
        change = token_change_figure(token_change_per_cycle(res.outputs).numpy())
    else:
        change = empty_figure(f"{loaded.label} runs one cycle: no cycle-to-cycle change")
    grid = patch_grid(loaded.model)
    notes = (f"**{loaded.label}**: {cfg.depth} layers × {cfg.heads} heads, {len(res.outputs)} cycle(s), "
             f"patch grid {grid[0]}×{grid[1]} on the {cfg.input_size[0]}×{cfg.input_size[1]} crop. "
             + NOTES.format(tokens=res.outputs[0].attention[0].shape[-1], patches=grid[0] * grid[1], cycle=cycle))
    notes += "\n\n" + "\n".join(models.result_notes([role], image))  # trained on what, how well
    if caption:
        notes = f"**{caption}** (the snapshot selector above replaces the student)\n\n" + notes
    return titled(top, caption), titled(cycles_fig, caption), titled(change, caption), notes


def _token_roles(models: ModelSet) -> list[str]:
    return [r for r in models.roles() if models.get(r).model.config.model_type != "cnn"]


def _controls_for(models: ModelSet, role: str) -> tuple:
    cfg = models.get(role).model.config
    cycles = max(1, cfg.cycle_num)
    return (gr.update(maximum=cycles, value=min(cycles, 1), interactive=cycles > 1),
            gr.update(maximum=cfg.depth - 1, value=cfg.depth - 1),
            gr.update(choices=["mean"] + [str(h) for h in range(cfg.heads)], value="mean"))


def build(models: ModelSet, image: gr.Image, box: gr.Textbox, selector: SnapshotSelector | None = None) -> None:
    """The tab's widgets and events (call inside a gr.Tab)."""
    roles = _token_roles(models)
    first = "student" if "student" in roles else roles[0]
    cfg = models.get(first).model.config
    with gr.Row():
        role = gr.Dropdown(roles, value=first, label="model")
        keypoint = gr.Dropdown(list(KEYPOINT_NAMES), value="left_wrist", label="keypoint")
        head = gr.Dropdown(["mean"] + [str(h) for h in range(cfg.heads)], value="mean", label="head")
    with gr.Row():
        cycle = gr.Slider(1, max(2, cfg.cycle_num), value=1, step=1, label="cycle")
        layer = gr.Slider(0, cfg.depth - 1, value=cfg.depth - 1, step=1, label="layer")
        run = gr.Button("Show attention", variant="primary")
    notes = gr.Markdown()
    top = gr.Plot(label="selected attention map and its two rollouts, as ratios to uniform attention "
                        "(on the network's input crop)")
    cycles_fig = gr.Plot(label="the same layer/head in every cycle (ratio to uniform)")
    change = gr.Plot(label="keypoint-token change between cycles")
    inputs = [image, box, role, cycle, layer, head, keypoint, *selection_inputs(selector)]
    outputs = [top, cycles_fig, change, notes]
    def handler(image, box, model, cycle, layer, head, keypoint, run=None, snapshot=None):
        return attention(models, image, box, model, cycle, layer, head, keypoint, run, snapshot)

    click = run.click(handler, inputs, outputs, api_name="attention")
    follow(selector, "attention", click, handler, inputs, outputs)
    for widget in (cycle, layer, head, keypoint):  # redraw from the cache, no new forward pass
        event = widget.release if isinstance(widget, gr.Slider) else widget.input
        event(handler, inputs, outputs, api_name=False)
    role.input(lambda r: _controls_for(models, r), [role], [cycle, layer, head], api_name=False)
