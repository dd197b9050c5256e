"""The reproduction's jobs and budget (``benchmarks/reproduce.py``): which runs exist, what each
distils from and how long each trains. Data only: reproduce.py trains them, reproduce_report.py
reports them.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

from sdpose_core.models.zoo import CHECKPOINT_DIR
from sdpose_core.train.recipes import get_recipe

# SynthPose seeds of this benchmark (the README and the tests use others)
SEEDS = {"train": 1301, "val": 1304, "heldout-easy": 1302, "heldout-medium": 1303}


@dataclass(frozen=True)
class Job:
    """One training run: ``name`` is its row, ``teacher`` the job it distils from (or a bundled file),
    ``finetune`` trains the pretrained backbone too (the teachers, the opt-in ``REGIME`` students), ``init`` warm-starts from a job's
    weights and ``data`` names its training set."""

    name: str
    recipe: str
    model: str | None = None
    teacher: str | None = None
    finetune: bool = False
    init: str | None = None  # the job whose weights it starts from (the teachers' second stage)
    init_body: str | None = None  # then every weight but the head from this job's (the third stage)
    data: str = "train"


BACKBONE = Job("backbone", "backbone")
TEACHERS = (Job("teacher", "teacher", finetune=True),
            Job("simcc-teacher", "simcc", model="synth-simcc-teacher", finetune=True))
# second stage: more data, mostly medium (benchmarks/curriculum.py); its rows replace the first's
STAGE2 = tuple(replace(job, init=job.name, data="stage2") for job in TEACHERS)
# third stage, heatmap teacher only: its own head on the (better) SimCC teacher's second-stage body
STAGE3 = (replace(STAGE2[0], init_body="simcc-teacher"),)
FOUNDATION = (BACKBONE, *TEACHERS, *STAGE2, *STAGE3)  # trained once, read by every seed
STUDENTS = (  # in the order they start: the bundled roles first, the KD family last
    Job("distilpose", "distilpose", teacher="teacher"),
    Job("dwpose-s1", "dwpose-s1", teacher="simcc-teacher"),
    Job("sdpose", "sdpose"),
    Job("baseline", "baseline"),
    Job("regression", "regression"),
    Job("simcc", "simcc"),
    Job("dwpose-s2", "dwpose-s2", teacher="dwpose-s1"),
    Job("distilpose-official", "distilpose-official", teacher="teacher"),
    Job("tf-nkd", "tf-nkd"),
    Job("nkd", "nkd", teacher="simcc-teacher"),
    Job("vitkd", "vitkd", teacher="simcc-teacher"),
    Job("mgd", "mgd", teacher="simcc-teacher"),
)
# opt-in (named in --jobs, never run by default): SDPose and its baseline closer to the paper's regime,
# where the CNN stem trains with the transformer (SDPose / TokenPose train StemNet end to end): they
# start from the pretrained backbone and train it too instead of reading it frozen; no feature cache
# (the backbone changes every step)
REGIME = (Job("baseline-ft", "baseline", finetune=True), Job("sdpose-ft", "sdpose", finetune=True))
# the bundled files the default (students-only) mode distils from
BUNDLED = {"backbone": CHECKPOINT_DIR / "backbone.pt", "teacher": CHECKPOINT_DIR / "synth-teacher.pt",
           "simcc-teacher": CHECKPOINT_DIR / "synth-simcc-teacher.pt"}


@dataclass
class Budget:
    """Data and schedule. Students see ``student_steps`` batches per epoch (a random draw from the
    whole training set); the backbone and the teachers see the whole set every epoch."""

    train_num: int = 16000
    val_num: int = 300
    heldout_num: int = 300
    difficulty: str = "easy+medium"
    augment: str = "flip"
    batch_size: int = 32
    lr: float = 3e-3
    epochs: dict[str, int] = field(default_factory=lambda: {
        "backbone": 12, "teacher": 16, "simcc-teacher": 16, "dwpose-s2": 3})  # s2: ~20 % of stage 1
    default_epochs: int = 24  # past the jump and flat: every run gains 0.1-1.2 AP over its last 3 (12 gave 1.5-5.8)
    student_steps: int | None = 250
    stage2_num: int = 16000  # crops in each extra set of the teachers' second stage
    stage2_epochs: int = 10
    stage2_steps: int = 500
    stage2_lr: float = 1e-3
    stage3_epochs: int = 8  # same data, steps and rate as the second stage

    def epochs_of(self, job: Job) -> int:
        if job.init:
            return self.stage3_epochs if job.init_body else self.stage2_epochs
        return self.epochs.get(job.name, self.default_epochs)

    def steps_of(self, job: Job) -> int | None:
        if job.init:
            return self.stage2_steps
        return None if job in (BACKBONE, *TEACHERS) else self.student_steps

    def lr_of(self, job: Job) -> float:
        return self.stage2_lr if job.init else self.lr


QUICK = Budget(train_num=200, val_num=40, heldout_num=40, default_epochs=1, student_steps=None,
               stage2_num=20, stage2_epochs=1, stage2_steps=5, stage3_epochs=1,
               epochs={"backbone": 1, "teacher": 1, "simcc-teacher": 1, "dwpose-s2": 1})


# the zoo config each job trains (the report measures it when a saved row's checkpoint is gone)
ZOO_MODEL = {**{job.name: job.model or get_recipe(job.recipe).model for job in (*FOUNDATION, *STUDENTS, *REGIME)},
             "backbone": "synth-backbone"}


def zoo_model_of(name: str) -> str | None:
    """The zoo config a job's row was trained as, or None for a name no job has (the caller maps a
    teacher's earlier stage and the 2-cycle rows to their job first)."""
    return ZOO_MODEL.get(name)
