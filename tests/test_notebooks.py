"""Every tutorial notebook runs top to bottom (nbclient) in a kernel on this interpreter.

The kernel is started from ``sys.executable`` through a temporary kernelspec, so the notebooks
run in the same virtual environment as pytest (never a user-wide "python3" kernel). Widgets
render only their initial state here; any exception in any cell fails the test.
Timings are not asserted (docs/notebooks.md has the measured table).
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat", reason='pip install -e ".[notebooks]"')
nbclient = pytest.importorskip("nbclient", reason='pip install -e ".[notebooks]"')
pytest.importorskip("ipykernel", reason='pip install -e ".[notebooks]"')
pytest.importorskip("ipywidgets", reason='pip install -e ".[notebooks]"')

from jupyter_client.kernelspec import KernelSpecManager  # noqa: E402
from jupyter_client.manager import KernelManager  # noqa: E402

NOTEBOOK_DIR = Path(__file__).resolve().parents[1] / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("[0-9][0-9]_*.ipynb"))
KERNEL = "sdpose-notebook-test"


@pytest.fixture(scope="module")
def kernel_dirs(tmp_path_factory) -> list[str]:
    """A kernelspec folder whose only kernel is this interpreter running ipykernel."""
    root = tmp_path_factory.mktemp("kernels")
    spec = root / KERNEL
    spec.mkdir()
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "sdpose-explorer tests", "language": "python",
        "env": {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "TQDM_DISABLE": "1"}}))
    return [str(root)]


def execute(path: Path, kernel_dirs: list[str], timeout: int = 600):
    nb = nbformat.read(path, as_version=4)
    km = KernelManager(kernel_name=KERNEL, kernel_spec_manager=KernelSpecManager(kernel_dirs=kernel_dirs))
    client = nbclient.NotebookClient(nb, km=km, timeout=timeout, allow_errors=False,
                                     resources={"metadata": {"path": str(path.parent)}})
    try:
        client.execute()
    finally:  # a kernel manager we pass in is ours to stop
        if km.has_kernel:
            km.shutdown_kernel(now=True)
    return nb


def test_notebooks_are_present():
    names = [p.stem for p in NOTEBOOKS]
    assert names == ["01_keypoint_tokens", "02_sdpose_multi_cycle", "03_distilpose_simulated_heatmaps",
                     "04_dwpose_two_stages", "05_debugging_tokens_with_captum", "06_what_a_pose_transformer_learns"]


def test_committed_notebooks_are_stripped_and_match_the_generator(tmp_path):
    """The .ipynb files carry no outputs and are exactly what notebooks/_build.py writes."""
    sys.path.insert(0, str(NOTEBOOK_DIR))
    try:
        import _build
    finally:
        sys.path.remove(str(NOTEBOOK_DIR))
    for fresh in _build.build(tmp_path):
        committed = NOTEBOOK_DIR / fresh.name
        assert committed.read_text(encoding="utf-8") == fresh.read_text(encoding="utf-8"), \
            f"{committed.name} differs from notebooks/_build.py: run python notebooks/_build.py"
        nb = nbformat.read(committed, as_version=4)
        for cell in nb.cells:
            if cell.cell_type == "code":
                assert cell.outputs == [] and cell.execution_count is None, committed.name


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_top_to_bottom(path, kernel_dirs):
    nb = execute(path, kernel_dirs)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.execution_count is not None for c in code), "a code cell did not run"
    errors = [o for c in code for o in c.outputs if o.output_type == "error"]
    assert errors == []
    # widgets render their initial state into Output widgets: nbclient keeps it in the widget state
    state = nb.metadata.get("widgets", {}).get("application/vnd.jupyter.widget-state+json", {}).get("state", {})
    widget_outputs = [o for m in state.values() if m.get("model_name") == "OutputModel"
                      for o in m["state"].get("outputs", [])]
    assert [o for o in widget_outputs if o.get("output_type") == "error"] == [], "a widget callback raised"
    shown = [o for c in code for o in c.outputs] + widget_outputs
    figures = [o for o in shown if "application/vnd.plotly.v1+json" in o.get("data", {})]
    assert len(figures) >= 3, "fewer than three plotly figures were drawn"
    text = json.dumps(shown)
    assert "untrained weights" in text or "trained checkpoint" in text, \
        "the notebook did not say where its weights came from"
