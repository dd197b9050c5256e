"""The header's snapshot selector (a run, one of its snapshots) and how a tab follows it.

Choosing a run loads all its snapshots into ``ModelSet.snapshots`` and picks its last one; every
pick is stored in ``picked`` (a gr.State holding (run, snapshot)). A tab that ``follow``s the
selector redraws itself when ``picked`` changes, once it has been drawn (its button pressed), with
the picked snapshot as its student. The Compare / Token attention / Heatmaps / Attribution handlers
take ``run`` and ``snapshot`` as their last two inputs, so the API (``/compare`` ...) takes them too.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import gradio as gr

from .models import ModelSet
from .snapshots import FINAL, run_name, selected, thin
from .ui import USER_ERRORS, warn

REDRAWS = "snapshot-redraws"  # one concurrency group for every tab's redraw on a scrub
REDRAW_CONCURRENCY = 2


@dataclass
class SnapshotSelector:
    """The selector's widgets: ``run`` (dropdown), ``snapshot`` (radio of the run's snapshots), and
    ``picked`` (state: the last (run, snapshot) chosen; its change redraws the following tabs)."""

    run: gr.Dropdown
    snapshot: gr.Radio
    picked: gr.State


def run_choices(models: ModelSet) -> list[tuple[str, str]]:
    """(label, value) of the run dropdown: the final models first, then every offered run."""
    names = [run_name(r) for r in models.runs]
    return [("final models (no snapshot)", FINAL),
            *((f"{n} run" + (f" ({r})" if names.count(n) > 1 else ""), str(r)) for n, r in zip(names, models.runs))]


def pick_run(models: ModelSet, run: str | None) -> tuple[dict, tuple]:
    """The snapshot radio for ``run`` (its snapshots with their AP, the last one picked; hidden for
    the final models) and the new (run, snapshot) pick. Loads the run's snapshots (once)."""
    if not selected(run, None):
        return gr.update(choices=[], value=None, visible=False), (FINAL, None)
    try:
        entries = thin(models.snapshots.warm(run))
    except USER_ERRORS as err:
        warn(str(err))
        return gr.update(choices=[], value=None, visible=False), (FINAL, None)
    last = entries[-1].label
    return gr.update(choices=[(e.choice(), e.label) for e in entries], value=last, visible=True), (run, last)


def all_labels(models: ModelSet) -> list[str]:
    """The snapshot labels of every offered run (loading them into the cache); a run that does not
    load is left out with a log line (its pick then says why)."""
    labels = []
    for run in models.runs:
        try:
            labels += [e.label for e in thin(models.snapshots.entries(run))]
        except USER_ERRORS as err:
            warn(f"run {run}: {err}")
    return list(dict.fromkeys(labels))


def build_selector(models: ModelSet) -> SnapshotSelector:
    """The selector's widgets and events (call where the header goes). The radio starts with every
    run's labels as choices, so API calls (``/compare`` ...) may name any snapshot of any run."""
    with gr.Row(elem_id="snapshot-selector"):
        run = gr.Dropdown(run_choices(models), value=FINAL, label="training run (snapshots)", scale=1,
                          allow_custom_value=True, info="its snapshots replace the student in Compare, "
                          "Token attention, Heatmaps and Attribution")
        snapshot = gr.Radio(all_labels(models), value=None, label="snapshot (val AP at that epoch)", scale=3,
                            visible=False)
    picked = gr.State((FINAL, None))
    run.change(lambda r: pick_run(models, r), [run], [snapshot, picked], api_name=False)
    snapshot.change(lambda r, s: (r, s) if s else gr.skip(), [run, snapshot], [picked], api_name=False)
    return SnapshotSelector(run, snapshot, picked)


def follow(selector: SnapshotSelector | None, click: gr.events.Dependency, handler: Callable,
           inputs: Sequence, outputs: Sequence) -> None:
    """Redraw a tab on every new pick once ``click`` has drawn it: ``handler(*inputs)`` with the
    last two inputs (run, snapshot) replaced by the pick. Scrubs faster than the redraw keep only
    the last one."""
    if selector is None:
        return
    drawn = gr.State(False)
    click.then(lambda: True, None, drawn, api_name=False, show_progress="hidden")

    def redraw(*args):
        *values, picked, was_drawn = args
        if not was_drawn:
            return tuple(gr.skip() for _ in outputs)
        return handler(*values[:-2], *picked)

    selector.picked.change(redraw, [*inputs, selector.picked, drawn], list(outputs), api_name=False,
                           trigger_mode="always_last", concurrency_id=REDRAWS,
                           concurrency_limit=REDRAW_CONCURRENCY, show_progress="minimal")


def selection_inputs(selector: SnapshotSelector | None) -> list:
    """The (run, snapshot) widgets a following tab's handler takes as its last two inputs."""
    return [] if selector is None else [selector.run, selector.snapshot]
