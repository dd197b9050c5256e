"""The tutorial notebooks: each is a jupytext py:percent source beside its stripped ``.ipynb``, and
each runs top to bottom under ``jupyter execute`` (the standard runner) in the user's default
environment: no kernelspec of ours, no thread variables. Timings are not asserted (docs/notebooks.md
has the measured table).

Edit ``notebooks/NN_name.py``, then ``jupytext --update --to ipynb notebooks/NN_name.py``.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat", reason='pip install -e ".[notebooks]"')
jupytext = pytest.importorskip("jupytext", reason='pip install -e ".[notebooks]"')
pytest.importorskip("nbclient", reason='pip install -e ".[notebooks]"')
pytest.importorskip("ipykernel", reason='pip install -e ".[notebooks]"')
pytest.importorskip("ipywidgets", reason='pip install -e ".[notebooks]"')

NOTEBOOK_DIR = Path(__file__).resolve().parents[1] / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("[0-9][0-9]_*.ipynb"))
SOURCES = sorted(NOTEBOOK_DIR.glob("[0-9][0-9]_*.py"))
# what a user's shell does not have: anything that pins thread pools or silences progress bars
NOT_IN_A_USERS_SHELL = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "TQDM_DISABLE",
                        "JUPYTER_PATH", "PYTHONPATH")


def test_notebooks_are_present():
    assert [p.stem for p in NOTEBOOKS] == [
        "01_keypoint_tokens", "02_sdpose_multi_cycle", "03_distilpose_simulated_heatmaps",
        "04_dwpose_two_stages", "05_debugging_tokens_with_captum", "06_what_a_pose_transformer_learns"]
    assert [p.stem for p in SOURCES] == [p.stem for p in NOTEBOOKS], "every notebook needs its py:percent source"


@pytest.mark.parametrize("source", SOURCES, ids=[p.stem for p in SOURCES])
def test_ipynb_is_its_py_percent_source_without_outputs(source):
    from_py = jupytext.read(source)
    committed = nbformat.read(source.with_suffix(".ipynb"), as_version=4)
    assert [(c.cell_type, c.source) for c in committed.cells] == [(c.cell_type, c.source) for c in from_py.cells], \
        f"run: jupytext --update --to ipynb notebooks/{source.name}"
    code = [c for c in committed.cells if c.cell_type == "code"]
    assert code and all(c.outputs == [] and c.execution_count is None for c in code), source.name


def test_notebooks_capture_into_no_output_widgets():
    """``ipywidgets.interact`` captures into an Output widget whose outputs a frontend mirrors back
    to the kernel mid-cell; under ``jupyter execute`` that hung notebook 02 (sdpose_core.viz.teaching.interact
    says what was measured). The lessons use ``sdpose_core.viz.teaching.interact`` instead (its Output
    widgets are set by the kernel, never captured into)."""
    for source in SOURCES:
        text = source.read_text(encoding="utf-8")
        assert "widgets.interact" not in text and "widgets.Output" not in text, source.name


def _default_environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in NOT_IN_A_USERS_SHELL}
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    return env


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_under_jupyter_execute(path, tmp_path):
    copy = tmp_path / path.name  # run a copy beside nothing: the notebook must not rely on its folder
    shutil.copy(path, copy)
    run = subprocess.run([sys.executable, "-m", "jupyter", "execute", "--timeout=150", "--inplace", str(copy)],
                         env=_default_environment(), capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    nb = nbformat.read(copy, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.execution_count is not None for c in code), "a code cell did not run"
    shown = [o for c in code for o in c.outputs]
    assert [o for o in shown if o.output_type == "error"] == []
    figures = [o for o in shown if "application/vnd.plotly.v1+json" in o.get("data", {})]
    assert len(figures) >= 3, "fewer than three plotly figures were drawn"
    assert "could not draw" not in json.dumps(shown), "an interactive drawing raised"
    text = json.dumps(shown)
    assert "untrained weights" in text or "trained checkpoint" in text or "trained on" in text, \
        "the notebook did not say where its weights came from"
