"""Notebook 06 is written as a jupytext py:percent source; its committed .ipynb is that source, stripped."""
from __future__ import annotations

from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat", reason='pip install -e ".[notebooks]"')
jupytext = pytest.importorskip("jupytext", reason='pip install -e ".[notebooks]"')

SOURCE = Path(__file__).resolve().parents[1] / "notebooks" / "06_what_a_pose_transformer_learns.py"


def test_notebook_06_ipynb_is_its_py_source_without_outputs():
    from_py = jupytext.read(SOURCE)
    committed = nbformat.read(SOURCE.with_suffix(".ipynb"), as_version=4)
    assert [(c.cell_type, c.source) for c in committed.cells] == [(c.cell_type, c.source) for c in from_py.cells], \
        "run: jupytext --update --to ipynb notebooks/06_what_a_pose_transformer_learns.py"
    code = [c for c in committed.cells if c.cell_type == "code"]
    assert code and all(c.outputs == [] and c.execution_count is None for c in code)
