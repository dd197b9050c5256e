"""The `sdpose` console command. Each subcommand is a thin shell over sdpose_core."""
from __future__ import annotations

import argparse
import json
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
    header = f"{'name':<18}{'params (M)':>11}{'GFLOPs 1 pass':>15}{'GFLOPs all':>12}{'cycles':>8}  {'input':<9} checkpoint"
    print(header)
    print("-" * len(header))
    for r in rows:
        print(f"{r['name']:<18}{r['params_m']:>11.2f}{r['gflops_one_pass']:>15.2f}{r['gflops_all_cycles']:>12.2f}"
              f"{r['cycles']:>8}  {r['input_size'][0]}x{r['input_size'][1]:<5} {r.get('checkpoint') or '-'}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sdpose", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("synth", help="generate a SynthPose dataset in COCO keypoints format")
    p.add_argument("--out", required=True, type=Path, help="output folder (images/ + annotations.json)")
    p.add_argument("--num", required=True, type=_positive_int, help="number of person crops")
    p.add_argument("--seed", type=int, default=0, help="random seed (same seed → byte-identical output)")
    p.add_argument("--size", type=_size, default=(128, 96), help="crop size HxW (default 128x96)")
    p.add_argument("--difficulty", choices=("easy", "medium", "hard"), default="medium")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_synth)

    p = sub.add_parser("models", help="list the model zoo: params, GFLOPs, bundled checkpoints")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=_cmd_models)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (CLIError, FileNotFoundError, ValueError) as err:
        print(f"sdpose {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
