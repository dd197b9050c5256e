"""The Gradio Blocks of the explorer: shared photo + box on the left, one tab per view on the right."""
from __future__ import annotations

import gradio as gr

from .components import photo_input
from .inputs import examples, read_image
from .models import ModelSet
from .saving import plots_in, save_row
from .selector import build_selector, wire
from .tabs import attention, attribution, compare, heatmaps, live, stages
from .ui import warn

TITLE = "SDPose explorer"
INTRO = ("Knowledge distillation for pose estimation, inspected on one photo. Upload a photo (or pick "
         "an example), optionally give the person box, then press the button of a tab.")



# Serving bounds: at most CONCURRENCY requests run at once and QUEUE_SIZE wait; uploads are capped
# at MAX_UPLOAD (gradio refuses bigger files before any handler runs). With the per-model result
# cache (ModelSet, 24 images) this bounds the memory the app can hold.
CONCURRENCY = 2
QUEUE_SIZE = 64
MAX_UPLOAD = "40mb"
# the tabs in order: title, module (its build(models, image, box) lays it out; the tab id is its name),
# whether it follows the snapshot selector (then build(models, image, box, selector))
TABS = (("Compare", compare, True), ("Token attention", attention, True), ("Heatmaps", heatmaps, True),
        ("Distillation stages", stages, False), ("Attribution", attribution, True), ("Live distill", live, False))


def model_status(models: ModelSet) -> str:
    """Markdown: which weights each role uses; a clear notice when some are untrained."""
    rows = [f"- **{m.label}**: {m.source}" + (f" ({m.note})" if m.note else "") for m in models.models.values()]
    text = "\n".join(rows)
    if models.any_untrained():
        text = ("⚠️ **Some models are untrained** (no bundled checkpoint found): they run with random "
                "weights, so their poses are meaningless. Point the app at checkpoints with "
                "`--checkpoint-dir DIR` or `--teacher/--student/--distilpose FILE`.\n\n" + text)
    return text


def _check_upload(path) -> None:
    if path is None:
        return
    try:
        read_image(path)
    except (ValueError, OSError) as err:
        warn(str(err))


def build_app(models: ModelSet) -> gr.Blocks:
    """The whole explorer; ``launch`` it (after ``.queue(...)``) or mount it."""
    with gr.Blocks(title=TITLE, analytics_enabled=False) as demo:
        gr.Markdown(f"# {TITLE}\n{INTRO}")
        with gr.Accordion("models", open=models.any_untrained()):
            gr.Markdown(model_status(models), elem_id="model-status")
        with gr.Row():
            with gr.Column(scale=1, min_width=260):
                image = photo_input(label="photo", height=320, sources=["upload", "clipboard"])
                box = gr.Textbox(label="person box", info="x, y, w, h in pixels; blank = whole image",
                                 placeholder="e.g. 21, 0, 53, 120")
                rows = examples()
                if rows:
                    gr.Examples(rows, [image, box], label="examples (SynthPose validation crops)",
                                examples_per_page=len(rows))
            with gr.Column(scale=3):
                ids = [tab.__name__.rpartition(".")[2] for _, tab, _ in TABS]
                selector = build_selector(models, ids[0]) if models.runs else None
                panels = {}
                with gr.Tabs():
                    for (title, tab, follows), tab_id in zip(TABS, ids):
                        with gr.Tab(title, id=tab_id) as panels[tab_id]:
                            tab.build(models, image, box, *([selector] if follows else []))
                            save_row(plots_in(panels[tab_id]), tab_id)  # PNG / HTML of its figures
                wire(selector, panels)  # a pick redraws the tab in view; a tab shown later, when stale
        image.upload(_check_upload, [image], None, api_name=False)
    return demo.queue(default_concurrency_limit=CONCURRENCY, max_size=QUEUE_SIZE)
