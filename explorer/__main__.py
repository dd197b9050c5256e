"""``python -m explorer``: start the explorer on 127.0.0.1:7860 with the bundled models."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path


# what --teacher / --student accept (docs/real_photos.md says where to get the official files)
MODEL_FILES = ("our checkpoint (.pt), an official SDPose / DistilPose / TokenPose .pth or an RTMPose / "
               "DWPose .onnx")


def build_parser(prog: str = "python -m explorer") -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog, description="Gradio explorer for SDPose / DistilPose models")
    add_arguments(p)
    return p


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The explorer's options (``sdpose explore`` hands its command line over to this module)."""
    p.add_argument("--port", type=int, default=7860, help="port (default 7860)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    p.add_argument("--checkpoint-dir", type=Path, help="folder of <zoo-name>.pt checkpoints "
                   "(default: data_samples/checkpoints)")
    p.add_argument("--teacher", type=Path, help=f"teacher: {MODEL_FILES}, or `blazepose` (default: "
                   "synth-teacher; on photos BlazePose when the `real` extra is installed)")
    p.add_argument("--student", type=Path, help=f"student: {MODEL_FILES}, or a run folder of `sdpose train` / "
                   "`sdpose distill-folder` (default synth-student)")
    p.add_argument("--distilpose", type=Path, help="DistilPose regression student (default synth-regression)")
    p.add_argument("--simcc", type=Path, help="SimCC / DWPose student (optional)")
    p.add_argument("--runs", type=Path, nargs="*", default=[], help="training run folders for the Distillation "
                   "stages tab and the snapshot selector (default: the bundled snapshot histories)")
    p.add_argument("--share", action="store_true", help="also open a public gradio.live link (off by default)")
    p.add_argument("--threads", type=int, default=1, help="torch threads per request (default 1: requests run "
                   "side by side, and on a shared 2-core CPU one thread runs these small models far faster; "
                   "docs/explorer.md)")


def load_models(args: argparse.Namespace):
    """The ModelSet of the command line; a file named there must load (CheckpointError naming the
    flag, the file and what is wrong), never silently replaced by random weights. A run folder given
    as ``--student`` also opens its snapshot history in the Distillation stages tab."""
    from explorer.models import ModelSet

    models = ModelSet.load(args.checkpoint_dir, teacher=args.teacher, student=args.student,
                           distilpose=args.distilpose, simcc=args.simcc, strict=True)
    models.runs = [Path(r) for r in args.runs] or models.runs  # default: the bundled histories
    if args.student is not None and (Path(args.student) / "history").is_dir():
        models.runs = [Path(args.student), *(r for r in models.runs if r != Path(args.student))]
    return models


def run(args: argparse.Namespace) -> int:
    """Load the models, build the app and serve until interrupted."""
    import torch

    from explorer.app import MAX_UPLOAD, build_app
    from sdpose_core.errors import CheckpointError

    for name in ("checkpoint_dir", "teacher", "student", "distilpose", "simcc"):
        value = getattr(args, name)
        if value is not None and str(value) != "blazepose" and not Path(value).exists():
            print(f"explorer: {name.replace('_', '-')} {value} does not exist", file=sys.stderr)
            return 2
    torch.set_num_threads(max(1, args.threads))  # before loading: the warm-up forwards use it too
    try:
        models = load_models(args)
    except CheckpointError as err:
        print(f"explorer: {err}", file=sys.stderr)
        return 2
    if models.any_untrained():
        print("explorer: some models have no checkpoint and run untrained (see the 'models' panel)")
    demo = build_app(models)
    demo.launch(server_name=args.host, server_port=args.port, share=args.share, show_error=True,
                max_file_size=MAX_UPLOAD)
    return 0


def main(argv: list[str] | None = None, prog: str = "python -m explorer") -> int:
    return run(build_parser(prog).parse_args(argv))


if __name__ == "__main__":
    # ``sdpose explore`` runs this module with sys.argv[0] = "sdpose explore", the usage line it shows
    sys.exit(main(prog="python -m explorer" if sys.argv[0].endswith(".py") else sys.argv[0]))
