"""The explorer as a server: launched on a free 127.0.0.1 port and driven through gradio_client."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("gradio")
gradio_client = pytest.importorskip("gradio_client")

from explorer.app import model_status  # noqa: E402
from explorer.inputs import examples  # noqa: E402
from explorer.models import ModelSet  # noqa: E402
from explorer.serve import start_background  # noqa: E402
from sdpose_core.cli import main as cli_main  # noqa: E402
from sdpose_core.io.checkpoint import save_model  # noqa: E402
from sdpose_core.models.zoo import build_model  # noqa: E402
from sdpose_core.train.run_dir import RunDir  # noqa: E402
from conftest import write_random_checkpoints  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def _is_figure(value) -> bool:
    return isinstance(value, dict) and value.get("type") == "plotly" and '"data"' in value.get("plot", "")


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """The app with random-weight checkpoints and one tiny run folder, plus a client."""
    folder = write_random_checkpoints(tmp_path_factory.mktemp("ckpt"))
    run = RunDir(tmp_path_factory.mktemp("run"))
    for epoch in range(2):
        save_model(build_model("synth-student"), run.snapshot_path(epoch), epoch=epoch)
        run.log({"epoch": epoch, "total": 1.0 / (epoch + 1)})
    models = ModelSet.load(folder, warmup=False)
    models.runs = [run.root]
    demo, url = start_background(models)
    client = gradio_client.Client(url, verbose=False)
    yield client, str(run.root)
    if hasattr(client, "close"):
        client.close()
    demo.close()


@pytest.fixture(scope="module")
def example_input():
    path, box = examples()[0]
    return gradio_client.handle_file(path), box


def test_endpoints_are_named(served):
    client, _ = served
    names = set(client.view_api(return_format="dict", print_info=False)["named_endpoints"])
    assert {"/compare", "/attention", "/heatmaps", "/stages", "/attribution"} <= names


def test_compare_endpoint(served, example_input):
    client, _ = served
    overlay, bars, summary = client.predict(*example_input, "student", api_name="/compare")
    assert _is_figure(overlay) and _is_figure(bars)
    assert "OKS agreement" in summary


def test_attention_endpoint(served, example_input):
    client, _ = served
    out = client.predict(*example_input, "student", 2, 1, "mean", "left_knee", api_name="/attention")
    assert all(_is_figure(f) for f in out[:3]) and "2 cycle(s)" in out[3]


def test_heatmaps_endpoint(served, example_input):
    client, _ = served
    panels, overview, md, grid = client.predict(*example_input, "nose", api_name="/heatmaps")
    assert _is_figure(panels) and _is_figure(overview) and _is_figure(grid) and "reg2hm_loss" in md


def test_stages_endpoint(served, example_input):
    client, run = served
    slider, curves, md = client.predict(*example_input, run, api_name="/stages")
    assert _is_figure(slider) and _is_figure(curves) and "2 snapshot(s)" in md


def test_attribution_endpoint(served, example_input):
    client, _ = served
    fig, note = client.predict(*example_input, "student", "nose", "saliency", api_name="/attribution")
    assert _is_figure(fig) and "saliency" in note


def test_bad_upload_keeps_serving(served, example_input, tmp_path):
    client, _ = served
    bad = tmp_path / "photo.jpg"
    bad.write_bytes(b"definitely not a jpeg")
    *_, summary = client.predict(gradio_client.handle_file(str(bad)), "", "student", api_name="/compare")
    assert "not an image" in summary
    *_, summary = client.predict(*example_input, "student", api_name="/compare")  # still serving
    assert "OKS agreement" in summary


def test_starts_without_bundled_checkpoints(tmp_path):
    models = ModelSet.load(tmp_path / "empty", warmup=False)
    assert set(models.models) == {"teacher", "student", "distilpose"}
    assert all(not m.trained for m in models.models.values())
    status = model_status(models)
    assert "untrained" in status and "no checkpoint" in status
    demo, url = start_background(models)
    try:
        client = gradio_client.Client(url, verbose=False)
        path, box = examples()[1]
        _, _, summary = client.predict(gradio_client.handle_file(path), box, "student", api_name="/compare")
        assert "untrained" in summary
    finally:
        demo.close()


def test_corrupt_checkpoint_falls_back_to_untrained(tmp_path):
    (tmp_path / "synth-teacher.pt").write_bytes(b"PK\x03\x04 broken")
    models = ModelSet.load(tmp_path, warmup=False)
    assert not models.get("teacher").trained and "could not load" in models.get("teacher").note


def test_cli_explore_hands_its_options_to_the_app(capsys, tmp_path):
    """``sdpose explore`` is ``python -m explorer``: the app's options and help, its exit status."""
    assert cli_main(["explore", "--help"]) == 0
    shown = capsys.readouterr().out
    assert shown.startswith("usage: sdpose explore") and "--checkpoint-dir" in shown and "--share" in shown
    missing = tmp_path / "none"
    assert cli_main(["explore", "--port", "7999", "--checkpoint-dir", str(missing)]) == 2  # stops before serving
    assert f"checkpoint-dir {missing} does not exist" in capsys.readouterr().err
    assert cli_main(["explore", "--port", "not-a-port"]) == 2
    out = subprocess.run([sys.executable, "-m", "explorer", "--help"], cwd=ROOT, capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0 and "--checkpoint-dir" in out.stdout and "--share" in out.stdout
