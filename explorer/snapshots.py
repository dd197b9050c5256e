"""One snapshot selector for the whole explorer: a training run and one of its saved snapshots.

The header's *run* and *snapshot* widgets are inputs of the Compare, Token attention, Heatmaps and
Attribution handlers: with a snapshot picked, the student of each of them is the model as it was at
that snapshot (``use_snapshot``), and its figures are titled with the snapshot's name. Snapshot
models are loaded once into an LRU cache keyed by (run, snapshot) (``SnapshotModels``); choosing a
run loads all its snapshots, so scrubbing between them never reads a file. Loading and labels are
``sdpose_core.interpret.dynamics``'s (``load_history``, ``load_snapshot``, ``ap_curve``).
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from sdpose_core.interpret.collapse import collapse_report
from sdpose_core.interpret.dynamics import ap_curve, load_history, load_snapshot

from .models import SNAPSHOT_PREFIX, LoadedModel
from .provenance import Provenance, history_trained_on, provenance_of, snapshot_ap_text

FINAL = "final"  # the run choice that means: no snapshot, the final models
PREFIX = SNAPSHOT_PREFIX  # ModelSet role keys of snapshot models: snapshot:<run>::<label>
MAX_CHOICES = 12  # snapshots offered per run (evenly thinned, first and last kept)


@dataclass(frozen=True)
class SnapshotEntry:
    """One saved snapshot of a run: its label ('epoch 3', 'stage 2 epoch 1'), 1-based epoch, file
    and the run's val AP at that epoch (None when metrics.jsonl has none)."""

    label: str
    epoch: int
    path: Path
    ap: float | None

    def choice(self) -> str:
        """The selector's text for it: the label and its AP."""
        return self.label + ("" if self.ap is None else f" · AP {self.ap:.3f}")


def selected(run: str | None, snapshot: str | None) -> bool:
    """Whether (run, snapshot) picks a snapshot at all (blank or ``final``: the final models)."""
    return bool(run and str(run).strip() and str(run) != FINAL)


def run_name(run: str | Path) -> str:
    return Path(str(run)).name or str(run)


def thin(entries: Sequence[SnapshotEntry], count: int = MAX_CHOICES) -> list[SnapshotEntry]:
    """At most ``count`` entries, evenly spaced, the first and last always kept."""
    if len(entries) <= count:
        return list(entries)
    keep = np.unique(np.linspace(0, len(entries) - 1, count).round().astype(int))
    return [entries[i] for i in keep]


class SnapshotModels:
    """Snapshot models of the offered runs, loaded once: an LRU of ``size`` models keyed by
    (run, label), and per run the list of its snapshots. ``runs`` gives the runs that may be opened
    (the explorer's ``ModelSet.runs``); anything else is refused with the list of them."""

    def __init__(self, runs: Callable[[], Sequence[Path]], size: int = 16):
        self._runs = runs
        self._size = size
        self._models: OrderedDict[tuple[str, str], LoadedModel] = OrderedDict()
        self._index: dict[str, list[SnapshotEntry]] = {}
        self._lock = threading.RLock()
        self.loads = 0  # snapshot files read so far (a cache hit reads none)

    def _run(self, run: str | Path) -> str:
        """The offered run ``run`` names (its path as offered), or a ValueError listing them."""
        offered = {str(Path(r)): str(r) for r in self._runs()}
        key = str(Path(str(run).strip()))
        if key in offered:
            return offered[key]
        named = [r for r in offered.values() if run_name(r) == str(run).strip()]
        if len(named) == 1:
            return named[0]
        have = ", ".join(offered.values()) or "none (start the explorer with --runs RUN or --student RUN)"
        raise ValueError(f"no training run {str(run)!r} with snapshots here; runs: {have}")

    def entries(self, run: str | Path) -> list[SnapshotEntry]:
        """Every snapshot of ``run`` in epoch order (the first call loads them all into the cache)."""
        run = self._run(run)
        with self._lock:
            if run in self._index:
                return self._index[run]
            snaps = load_history(run)
            self.loads += len(snaps)
            ap = dict(zip(*(a.tolist() for a in ap_curve(run))))
            entries = [SnapshotEntry(s.label, s.epoch, s.path, ap.get(s.epoch)) for s in snaps]
            self._index[run] = entries
            for entry, snap in zip(entries, snaps):
                self._put((run, entry.label), self._loaded(run, entry, snap.model))
            return entries

    def warm(self, run: str | Path) -> list[SnapshotEntry]:
        """``entries(run)``, and each snapshot's collapse check run once (Compare and Heatmaps show it;
        ``collapse_report`` caches it per model, and the first forward of a model is its slowest)."""
        entries = self.entries(run)
        for e in entries[-self._size:]:
            collapse_report(self.get(run, e.label).model)
        return entries

    def entry(self, run: str | Path, label: str | None) -> SnapshotEntry:
        """The snapshot ``label`` of ``run``, or a ValueError naming the ones there are."""
        entries = self.entries(run)
        text = str(label or "").strip()
        for e in entries:
            if text in (e.label, e.choice()):
                return e
        names = ", ".join(e.label for e in entries)
        if not text:
            raise ValueError(f"pick a snapshot of {run_name(run)}: {names}")
        raise ValueError(f"{run_name(run)} has no snapshot {text!r}; its snapshots: {names}")

    def get(self, run: str | Path, label: str | None) -> LoadedModel:
        """The model of one snapshot: from the cache, else read once from its file."""
        run = self._run(run)
        entry = self.entry(run, label)
        key = (run, entry.label)
        with self._lock:
            if key in self._models:
                self._models.move_to_end(key)
                return self._models[key]
            self.loads += 1
            model = self._loaded(run, entry, load_snapshot(entry.path).model)
            self._put(key, model)
            return model

    def _put(self, key: tuple[str, str], model: LoadedModel) -> None:
        self._models[key] = model
        self._models.move_to_end(key)
        while len(self._models) > self._size:
            self._models.popitem(last=False)

    @staticmethod
    def _loaded(run: str, entry: SnapshotEntry, model) -> LoadedModel:
        prov = snapshot_provenance(run, entry, model)
        return LoadedModel(f"{run_name(run)} · {entry.label}", model, str(entry.path), True, prov.text(), prov)

    def key(self, run: str | Path, label: str | None) -> str:
        """The ModelSet role key of a snapshot (validated: the run is offered, the label exists)."""
        run = self._run(run)
        return f"{PREFIX}{run}::{self.entry(run, label).label}"

    def from_key(self, key: str) -> LoadedModel:
        run, _, label = key.removeprefix(PREFIX).rpartition("::")
        return self.get(run, label)

    def caption(self, run: str | Path, label: str | None) -> str:
        """The title line of a figure drawn by this snapshot."""
        e = self.entry(run, label)
        ap = "" if e.ap is None else f" · val AP {e.ap:.3f}"
        return f"snapshot: {run_name(run)} run, {e.label}{ap}"


def snapshot_provenance(run: str, entry: SnapshotEntry, model) -> Provenance:
    """What the run trained on (the bundled manifest row that names the run as its history, else
    its run folder through ``provenance_of``) and the AP at this snapshot (``entry.ap``: a bundled
    run's snapshot files are not read a second time for the AP saved in them)."""
    trained_on = history_trained_on(Path(run))
    base = (Provenance(trained_on, "", "synthpose" in trained_on.lower()) if trained_on
            else provenance_of(model, str(entry.path)))
    how = f"snapshot {entry.label}" + ("" if entry.ap is None else f", {snapshot_ap_text(entry.ap)}")
    return Provenance(base.trained_on or "the run's data (not recorded)", how, base.synthpose_only)


def use_snapshot(models, role: str, run: str | None, snapshot: str | None) -> tuple[str, str]:
    """(role to draw, figure caption): with a snapshot picked, the snapshot replaces ``role`` (the
    tab's student; a ``teacher`` choice stays the teacher) and the caption names it; otherwise
    (``role``, "")."""
    if not selected(run, snapshot) or role == "teacher":
        return role, ""
    return models.snapshots.key(run, snapshot), models.snapshots.caption(run, snapshot)
