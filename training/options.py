"""The commands' options: typed dataclasses whose `help` metadata HfArgumentParser turns into flags
(`--dev-sample` for `dev_sample`). Kept apart from the commands' code, whose imports are heavy, so
that `python -m training <command> --help` loads none of it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from training.data import DEFAULT_DATA_DIR

# The default n-gram head's: bigrams and trigrams share one prime-sized range of hashed buckets
# after the vocabulary's rows. Both were chosen on dev macro-F1 of the mix, against 0.5 M buckets
# and C = 1.
DEFAULT_BUCKETS = 2_097_143
DEFAULT_C = 3.0


class UsageError(Exception):
    """A command's options parse but do not make sense together; the message says why."""


def _help(text: str, **argparse_options) -> dict:
    return {"help": text, **argparse_options}


def _comma_separated(values: list[str] | None) -> list[str] | None:
    """`--labels negative,positive` (the documented form), or `--labels negative positive`."""
    if values is None:
        return None
    return [part for value in values for part in value.split(",") if part]


# --- train ------------------------------------------------------------------------------------


@dataclass
class TrainRunOptions:
    """Where a training run reads and writes, and how long it may go on."""

    data_dir: Path = field(default=DEFAULT_DATA_DIR, metadata=_help("the review TSVs"))
    out: Path = field(
        default=Path("checkpoints/korean-sentiment"), metadata=_help("the run's directory")
    )
    resume: bool = field(
        default=False, metadata=_help("continue from the phase OUT/*.pt stopped in")
    )
    max_minutes: float | None = field(
        default=None,
        metadata=_help("stop training after this long (a checkpoint is kept; --resume goes on)"),
    )
    threads: int | None = field(default=None, metadata=_help("torch intra-op threads"))


@dataclass
class TrainSettings:
    """The model and its schedule, recorded in the run's settings.json and training report. The
    defaults are the committed default model's (both phases fit one session on 2 cores)."""

    vocab_size: int = field(default=12000, metadata=_help("WordPiece vocabulary size"))
    hidden: int = field(default=256, metadata=_help("hidden size"))
    layers: int = field(default=4, metadata=_help("encoder layers"))
    heads: int = field(default=4, metadata=_help("attention heads"))
    intermediate: int = field(default=1024, metadata=_help("feed-forward size"))
    max_tokens: int = field(
        default=64, metadata=_help("tokens per review, [CLS] and [SEP] included")
    )
    batch_size: int = field(default=128, metadata=_help("reviews per step"))
    pretrain_epochs: float = field(
        default=2.0, metadata=_help("pre-training epochs; 0 skips pre-training")
    )
    pretrain_objective: Literal["mlm", "electra"] = field(
        default="mlm",
        metadata=_help(
            "mlm: BERT's masked LM; electra: replaced-token detection against a small "
            "masked-LM generator (ELECTRA)"
        ),
    )
    pretrain_lr: float = field(default=5e-4, metadata=_help("pre-training peak learning rate"))
    mask_prob: float = field(default=0.15, metadata=_help("share of tokens masked in pre-training"))
    generator_width: float = field(
        default=0.25,
        metadata=_help(
            "electra: the generator's hidden size, heads and feed-forward size as a share of "
            "the encoder's (ELECTRA's best: 1/4 to 1/3)"
        ),
    )
    replaced_token_weight: float = field(
        default=50.0,
        metadata=_help("electra: weight λ of the replaced-token loss beside the generator's"),
    )
    lr: float = field(default=3e-4, metadata=_help("fine-tuning peak learning rate"))
    warmup_ratio: float = field(default=0.03, metadata=_help("share of steps spent warming up"))
    weight_decay: float = field(default=0.01, metadata=_help("AdamW weight decay"))
    epochs: float = field(default=2.0, metadata=_help("fine-tuning epochs"))
    rating_loss_weight: float = field(
        default=0.5, metadata=_help("weight of the auxiliary star-rating loss")
    )
    teacher: list[str] | None = field(
        default=None,
        metadata=_help(
            "distillation: a fine-tuned checkpoint over this run's vocabulary; give it once per "
            "teacher: their mean distributions on the training reviews are soft targets",
            action="extend",
        ),
    )
    ngram_teacher: str | None = field(
        default=None,
        metadata=_help(
            "distillation: a directory of `python -m training ngram-teacher`: its cross-fitted "
            "n-gram head's logits are mixed into the teachers' targets"
        ),
    )
    teacher_weight: float = field(
        default=0.5,
        metadata=_help("distillation: the soft targets' share of the loss (the gold's: 1 - it)"),
    )
    average_last: int = field(
        default=3,
        metadata=_help("the final model may be the mean of the last N evaluations' weights"),
    )
    eval_every: int = field(default=1500, metadata=_help("steps between dev evaluations"))
    patience: int = field(
        default=3, metadata=_help("evaluations without improvement before an early stop")
    )
    seed: int = field(default=42, metadata=_help("random seed"))
    precision: Literal["auto", "bf16", "fp32"] = field(
        default="auto",
        metadata=_help(
            "training steps' arithmetic: bf16 autocasts the forward pass (weights, optimizer "
            "and evaluations stay float32); auto: bf16 where the CPU computes it natively"
        ),
    )
    train_limit: int | None = field(
        default=None, metadata=_help("only the first N training reviews")
    )


# --- ngram-head -------------------------------------------------------------------------------


@dataclass(kw_only=True)
class NgramFitOptions:
    """How an n-gram head's regression is fitted: `ngram-head` once, `ngram-teacher` per fold."""

    data_dir: Path = field(default=DEFAULT_DATA_DIR, metadata=_help("the review TSVs"))
    buckets: int = field(
        default=DEFAULT_BUCKETS, metadata=_help("hashed buckets shared by bigrams and trigrams")
    )
    c: float = field(default=DEFAULT_C, metadata=_help("inverse L2 strength (scikit-learn's C)"))
    iterations: int = field(default=300, metadata=_help("L-BFGS iterations"))
    train_limit: int | None = field(
        default=None, metadata=_help("only the first N training reviews")
    )
    threads: int | None = field(default=None, metadata=_help("torch intra-op threads"))


@dataclass(kw_only=True)
class NgramHeadOptions(NgramFitOptions):
    checkpoint: Path = field(metadata=_help("the sentiment checkpoint the head is mixed with"))
    out: Path = field(metadata=_help("directory for the head's tables and settings"))


@dataclass(kw_only=True)
class NgramTeacherOptions(NgramFitOptions):
    checkpoint: Path = field(
        metadata=_help("a checkpoint of the student's encoder: the head reads its token ids")
    )
    out: Path = field(metadata=_help("directory for the logits and their record"))
    folds: int = field(
        default=4, metadata=_help("folds: each one's logits come from a head fitted on the others")
    )


# --- build ------------------------------------------------------------------------------------


@dataclass
class BuildOptions:
    source: str = field(metadata=_help("hub id or local checkpoint directory"))
    tokenizer: str | None = field(
        default=None, metadata=_help("where the tokenizer is, if not beside the model")
    )
    out: Path | None = field(
        default=None, metadata=_help("bundle directory (default state/bundles/NAME-VERSION)")
    )
    dev: Path = field(
        default=DEFAULT_DATA_DIR / "dev.tsv.gz", metadata=_help("dev TSV for the parity gate")
    )
    dev_sample: int = field(default=3000, metadata=_help("dev reviews the gate compares on"))
    labels: list[str] | None = field(
        default=None,
        metadata=_help(
            "logit order, e.g. negative,positive (required when the config says LABEL_0, ...)"
        ),
    )
    neutral_threshold: float | None = field(
        default=None,
        metadata=_help(
            "two-class models: neutral below this winning probability (default: tuned on dev)"
        ),
    )
    max_tokens: int | None = field(
        default=None, metadata=_help("default: the tokenizer's model_max_length")
    )
    name: str = field(default="korean-sentiment", metadata=_help("the bundle's model name"))
    version: str | None = field(
        default=None, metadata=_help("default: UTC date + hash of the INT8 model")
    )
    preset: Literal["auto", "avx512_vnni", "avx512", "avx2", "arm64"] = field(
        default="auto", metadata=_help("quantization preset; auto: the one for this CPU")
    )
    quantization: Literal["static", "dynamic"] = field(
        default="static",
        metadata=_help(
            "static: calibrated activation scales, batch-independent results; "
            "dynamic: Optimum preset, per-run scales"
        ),
    )
    calibration_texts: int = field(
        default=512, metadata=_help("static only: dev texts that calibrate activation scales")
    )
    per_channel: bool = field(
        default=False, metadata=_help("dynamic only: per-channel weight scales")
    )
    min_agreement: float = field(
        default=0.99, metadata=_help("the gate: least FP32/INT8 agreement of served labels")
    )
    max_accuracy_drop: float = field(
        default=0.005, metadata=_help("the gate: largest accuracy drop FP32 → INT8")
    )
    stars_tolerance: float = field(
        default=0.2,
        metadata=_help("the gate, bundles with stars: how far INT8 stars may be from FP32's"),
    )
    min_stars_agreement: float = field(
        default=0.99,
        metadata=_help(
            "the gate, bundles with stars: least share of texts whose INT8 stars are within "
            "--stars-tolerance of FP32's"
        ),
    )
    latency_texts: int = field(default=200, metadata=_help("dev texts timed for the card"))
    latency_threads: int = field(default=1, metadata=_help("intra-op threads while timing"))
    force: bool = field(default=False, metadata=_help("ship even if the parity gate fails"))
    register: bool = field(
        default=True, metadata=_help("register the bundle in the model store (--no-register)")
    )
    seed: int = field(default=0, metadata=_help("seed of the dev sample"))
    ngram_head: Path | None = field(
        default=None,
        metadata=_help("a head from `python -m training ngram-head` to mix into the logits"),
    )

    def __post_init__(self) -> None:
        self.labels = _comma_separated(self.labels)


@dataclass
class ResultOptions:
    output: Path | None = field(
        default=None, metadata=_help("also write the JSON result to this file")
    )


# --- evaluate ---------------------------------------------------------------------------------


@dataclass
class EvaluateOptions:
    model: list[str] = field(
        metadata=_help(
            "bundle directory or store tag; give it twice to compare two models", action="extend"
        )
    )
    data: Path = field(default=DEFAULT_DATA_DIR / "test.tsv.gz", metadata=_help("review TSV"))
    limit: int | None = field(default=None, metadata=_help("only the first N reviews"))
    threads: int | None = field(default=None, metadata=_help("onnxruntime intra-op threads"))
    json: bool = field(default=False, metadata=_help("print the result as one JSON object"))
    output: Path | None = field(
        default=None, metadata=_help("also write the JSON result to this file")
    )


# --- soup, register, tiny ---------------------------------------------------------------------


@dataclass
class SoupOptions:
    checkpoint: list[Path] = field(
        metadata=_help("a fine-tuned checkpoint; give it once per ingredient", action="extend")
    )
    out: Path = field(metadata=_help("directory for the averaged checkpoint"))
    data_dir: Path = field(default=DEFAULT_DATA_DIR, metadata=_help("the review TSVs"))


@dataclass
class RegisterOptions:
    bundle_dir: Path = field(
        metadata=_help("directory with model.onnx, tokenizer.json, ...", positional=True)
    )
    if_missing: bool = field(
        default=False, metadata=_help("do nothing when the version is already registered")
    )


@dataclass
class TinyOptions:
    out_dir: Path = field(metadata=_help("checkpoint directory to write", positional=True))
    labels: str = field(
        default="negative,neutral,positive", metadata=_help("what each logit means, in order")
    )
    generic_labels: bool = field(
        default=False, metadata=_help("name the labels LABEL_0, LABEL_1, ... in the config")
    )
    rating_head: bool = field(
        default=True,
        metadata=_help("keep a calibrated rating head, so bundles have stars (--no-rating-head)"),
    )
