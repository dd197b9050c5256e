"""Print the bad-input table of docs/robustness.md from the test's own case list.

Every case of ``tests/test_bad_inputs.py`` is built in a temporary folder and run through its entry
point (as the test does); the message column is what the user actually sees, with the temporary
path removed. Usage: ``python benchmarks/bad_inputs_table.py > /tmp/table.md``.
"""
from __future__ import annotations

import logging
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from test_bad_inputs import CASES, random_models, run_case  # noqa: E402

ENTRY = {
    "image": ("`load_user_image`", "refused: `ValueError`"),
    "checkpoint": ("`load_model`", "refused: `CheckpointError`"),
    "dataset": ("`CocoKeypointDataset`", "refused: `ValueError` / `FileNotFoundError`"),
    "cli": ("`sdpose` CLI", "exit 2, one line on stderr"),
    "compare": ("explorer compare handler / `/compare`", "warning toast + message, no figures"),
}


def _excerpt(message: str, folder: Path, limit: int = 150) -> str:
    text = message.replace(str(folder) + "/", "").replace(str(folder), ".").replace("**", "")
    text = " ".join(text.split())
    text = text if len(text) <= limit else text[: limit - 1] + "…"
    return "`" + text.replace("|", "\\|").replace("`", "'") + "`"


def rows() -> list[str]:
    out = ["| # | case | input | entry point | outcome | message (excerpt) | test id |",
           "| ---: | --- | --- | --- | --- | --- | --- |"]
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        models = random_models(Path(tempfile.mkdtemp(dir=tmp)))
        for i, case in enumerate(CASES, 1):
            folder = tmp_path / case.id
            result = run_case(case, folder, models)
            entry, refusal = ENTRY[case.entry]
            if case.check is not None:
                outcome, message = f"accepted: {case.outcome}", ""
                if case.entry == "compare":
                    message = _excerpt(result.message.splitlines()[0], folder)
            else:
                outcome, message = refusal, _excerpt(result.message, folder)
            test_id = f"`test_bad_input[{case.id}]`"
            out.append(f"| {i} | {case.id} | {case.problem} | {entry} | {outcome} | {message} | {test_id} |")
    return out


if __name__ == "__main__":
    logging.disable(logging.WARNING)  # the explorer logs each refusal it turns into a toast
    print("\n".join(rows()))
