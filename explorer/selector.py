"""The header's snapshot selector (a run, one of its snapshots) and how a tab follows it.

Choosing a run loads all its snapshots into ``ModelSet.snapshots`` and then picks its last one.
A tab that ``follow``s the selector shows the picked snapshot as its student once it has been drawn
(its button pressed): a pick redraws the tab in view, and any other drawn tab is redrawn when it is
shown, if it still shows an older pick (``wire``). A scrub so costs one tab's redraw. The Compare /
Token attention / Heatmaps / Attribution handlers take ``run`` and ``snapshot`` as their last two
inputs, so the API (``/compare`` ...) takes them too.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

import gradio as gr

from .models import ModelSet
from .snapshots import FINAL, run_name, selected, thin
from .ui import USER_ERRORS, warn



@dataclass
class Follower:
    """A tab that shows the picked snapshot: its handler (last two inputs: run, snapshot), its
    outputs, and ``shown``: the (run, snapshot) its figures show now (None: not drawn yet)."""

    tab: str
    handler: Callable
    inputs: list
    outputs: list
    shown: gr.State


@dataclass
class SnapshotSelector:
    """The selector's widgets: ``run`` (dropdown), ``snapshot`` (radio of the run's snapshots),
    ``active`` (state: the id of the tab in view) and the tabs that follow the pick."""

    run: gr.Dropdown
    snapshot: gr.Radio
    active: gr.State
    followers: list[Follower] = field(default_factory=list)


def run_choices(models: ModelSet) -> list[tuple[str, str]]:
    """(label, value) of the run dropdown: the final models first, then every offered run."""
    names = [run_name(r) for r in models.runs]
    return [("final models (no snapshot)", FINAL),
            *((f"{n} run" + (f" ({r})" if names.count(n) > 1 else ""), str(r)) for n, r in zip(names, models.runs))]


def pick_run(models: ModelSet, run: str | None) -> dict:
    """The snapshot radio for ``run``: its snapshots with their AP, none picked yet (``last_label``
    picks one next, so a new run always changes the radio's value); hidden for the final models.
    Loads the run's snapshots (once)."""
    if not selected(run, None):
        return gr.update(choices=[], value=None, visible=False)
    try:
        entries = thin(models.snapshots.warm(run))
    except USER_ERRORS as err:
        warn(str(err))
        return gr.update(choices=[], value=None, visible=False)
    return gr.update(choices=[(e.choice(), e.label) for e in entries], value=None, visible=True)


def last_label(models: ModelSet, run: str | None):
    """The snapshot picked when ``run`` is chosen: its last (nothing for the final models)."""
    if not selected(run, None):
        return gr.skip()
    try:
        return thin(models.snapshots.entries(run))[-1].label
    except USER_ERRORS:
        return gr.skip()


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


def build_selector(models: ModelSet, first_tab: str) -> SnapshotSelector:
    """The selector's widgets and events (call where the header goes; ``first_tab``: the id of the tab
    in view at the start). The radio starts with every run's labels as choices, so API calls
    (``/compare`` ...) may name any snapshot of any run. Call ``wire`` once the tabs are built."""
    with gr.Row(elem_id="snapshot-selector"):
        run = gr.Dropdown(run_choices(models), value=FINAL, label="training run (snapshots)", scale=1,
                          allow_custom_value=True, info="its snapshots replace the student in Compare, "
                          "Token attention, Heatmaps and Attribution")
        snapshot = gr.Radio(all_labels(models), value=None, label="snapshot (val AP at that epoch)", scale=3,
                            visible=False)
    run.change(lambda r: pick_run(models, r), [run], [snapshot], api_name=False).then(
        lambda r: last_label(models, r), [run], [snapshot], api_name=False)
    return SnapshotSelector(run, snapshot, gr.State(first_tab))


def follow(selector: SnapshotSelector | None, tab: str, click: gr.events.Dependency, handler: Callable,
           inputs: Sequence, outputs: Sequence) -> None:
    """Make tab ``tab`` show the picked snapshot: ``handler(*inputs)`` (its last two inputs are the
    selector's run and snapshot) draws it; ``click`` (its button) records what it shows."""
    if selector is None:
        return
    shown = gr.State(None)
    click.then(lambda run, snapshot: (run, snapshot), [selector.run, selector.snapshot], [shown], api_name=False,
               show_progress="hidden")
    selector.followers.append(Follower(tab, handler, list(inputs), list(outputs), shown))


def redraw(follower: Follower, values: Sequence, shown) -> tuple:
    """``follower``'s outputs and new ``shown`` for ``values`` of its inputs, or skips when it is not
    drawn yet, already shows that snapshot, or a run is chosen but no snapshot yet."""
    run, snapshot = values[-2:]
    pick = (run, snapshot)
    if shown is None or list(shown) == list(pick) or (selected(run, snapshot) and not snapshot):
        return tuple(gr.skip() for _ in follower.outputs) + (gr.skip(),)
    return (*follower.handler(*values), pick)


def wire(selector: SnapshotSelector | None, panels: dict[str, gr.Tab]) -> None:
    """The events of the pick: a new snapshot redraws the following tab in view (one event, its
    outputs only); showing a tab records it as in view and redraws it when it shows another
    snapshot than the picked one. So every following tab shows the pick whenever it is looked at,
    and a scrub draws one tab, not all of them. These redraws skip gradio's queue (a round trip
    less; the browser keeps only the last of fast scrubs: ``always_last``)."""
    if selector is None:
        return
    followers = {f.tab: f for f in selector.followers}
    inputs = list(dict.fromkeys(c for f in followers.values() for c in [*f.inputs, f.shown]))
    outputs = [c for f in followers.values() for c in [*f.outputs, f.shown]]

    def on_pick(values: dict) -> dict:
        follower = followers.get(values[selector.active])
        if follower is None:
            return {}
        new = redraw(follower, [values[c] for c in follower.inputs], values[follower.shown])
        return dict(zip([*follower.outputs, follower.shown], new))

    selector.snapshot.change(on_pick, set(inputs) | {selector.active}, outputs, api_name=False,
                             trigger_mode="always_last", show_progress="hidden", queue=False)
    for tab, panel in panels.items():
        follower = followers.get(tab)
        if follower is None:
            panel.select(lambda t=tab: t, None, [selector.active], api_name=False, show_progress="hidden")
            continue

        def on_show(*args, f=follower):
            *values, shown = args
            return (f.tab, *redraw(f, values, shown))

        panel.select(on_show, [*follower.inputs, follower.shown], [selector.active, *follower.outputs, follower.shown],
                     api_name=False, trigger_mode="always_last", show_progress="hidden", queue=False)


def selection_inputs(selector: SnapshotSelector | None) -> list:
    """The (run, snapshot) widgets a following tab's handler takes as its last two inputs."""
    return [] if selector is None else [selector.run, selector.snapshot]
