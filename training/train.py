"""Train the default Korean sentiment model from scratch on the Naver review data.

A small BERT with its own WordPiece tokenizer, in two phases that share one loop:
1. pre-training on the training reviews' text (labels unused), so the encoder learns the language
   of the reviews before it learns their sentiment: masked LM, or ELECTRA's replaced-token
   detection (`--pretrain-objective electra`), whose discriminator becomes the encoder;
2. fine-tuning on negative/neutral/positive (from star ratings) with a rating head that predicts
   the star rating, early-stopped on dev.
Both phases checkpoint and resume. The result is a Hugging Face checkpoint directory with the
rating head beside it, calibrated on dev (training.rating_head), that `python -m training build`
exports to INT8 ONNX with the stars as a second output.
"""

from __future__ import annotations

import json
import logging
import math
import random
import shutil
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional
from tqdm import tqdm
from transformers import (
    BertConfig,
    BertForMaskedLM,
    BertForSequenceClassification,
    BertModel,
    ElectraConfig,
    ElectraForMaskedLM,
    PreTrainedTokenizerFast,
)
from transformers.models.electra.modeling_electra import ElectraDiscriminatorPredictions

from model_service.inference import LABELS
from training.data import (
    EncodedSplit,
    collate,
    dev_batches,
    encode_split,
    length_bucketed_batches,
    read_reviews,
)
from training.distill import (
    Ensemble,
    check_vocabularies,
    digests,
    keep_targets,
    kept_targets,
    mean_distributions,
    mix_ngram_teacher,
)
from training.metrics import headline_metrics, score, tune_logit_offsets
from training.ngram_head import vocabulary_digest
from training.ngram_teacher import NgramTeacher
from training.options import TrainRunOptions, TrainSettings, UsageError
from training.rating_head import (
    CALIBRATION_FILE,
    RATINGS,
    WEIGHTS_FILE,
    Calibration,
    RatingHead,
    fit_calibration,
)
from training.tokenizer import SPECIAL_TOKENS, train_tokenizer

log = logging.getLogger(__name__)


# --- model ------------------------------------------------------------------------------------


class ReviewClassifier(nn.Module):
    """BertForSequenceClassification plus a head that predicts the star rating (row k: k + 1).

    The rating head gives the encoder the ordinal signal that three coarse labels throw away, and
    is served as the bundle's stars. A checkpoint saved before the head was kept loads without
    one (`rating_head` None): it still classifies, and has no stars.
    """

    def __init__(self, config: BertConfig, rating_head: bool = True) -> None:
        super().__init__()
        self.classifier = BertForSequenceClassification(config)
        self.rating_head = nn.Linear(config.hidden_size, len(RATINGS)) if rating_head else None

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor):
        encoded = self.classifier.bert(input_ids=input_ids, attention_mask=attention_mask)
        pooled = self.classifier.dropout(encoded.pooler_output)
        ratings = None if self.rating_head is None else self.rating_head(pooled)
        return self.classifier.classifier(pooled), ratings

    def head_weights(self) -> RatingHead | None:
        if self.rating_head is None:
            return None
        weight, bias = self.rating_head.weight, self.rating_head.bias
        return RatingHead(weight.detach().numpy().copy(), bias.detach().numpy().copy())

    def save(
        self, directory: Path, calibration: Calibration | None = None, dev: dict | None = None
    ) -> None:
        """The Hugging Face checkpoint and, beside it, the rating head (with its calibration
        once it has one): the checkpoint directory `python -m training build` reads."""
        self.classifier.save_pretrained(directory)
        head = self.head_weights()
        if head is None:
            for stale in (WEIGHTS_FILE, CALIBRATION_FILE):
                (directory / stale).unlink(missing_ok=True)
            return
        (head if calibration is None else head.calibrated(calibration, dev)).save(directory)

    @classmethod
    def load(cls, directory: Path) -> ReviewClassifier:
        """A checkpoint directory, with its rating head when it keeps one."""
        classifier = BertForSequenceClassification.from_pretrained(directory)
        head = RatingHead.load(directory)
        model = cls(classifier.config, rating_head=head is not None)
        model.classifier = classifier
        if head is not None:
            with torch.no_grad():
                model.rating_head.weight.copy_(torch.from_numpy(head.weight))
                model.rating_head.bias.copy_(torch.from_numpy(head.bias))
        return model


def make_config(s: TrainSettings, tokenizer: PreTrainedTokenizerFast) -> BertConfig:
    return BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=s.hidden,
        num_hidden_layers=s.layers,
        num_attention_heads=s.heads,
        intermediate_size=s.intermediate,
        max_position_embeddings=s.max_tokens + 2,
        type_vocab_size=1,
        pad_token_id=tokenizer.pad_token_id,
        num_labels=len(LABELS),
        id2label=dict(enumerate(LABELS)),
        label2id={label: i for i, label in enumerate(LABELS)},
        attn_implementation="sdpa",
    )


def class_weights(labels: np.ndarray) -> torch.Tensor:
    """Inverse square-root frequency: lifts the rare negative class without drowning precision."""
    # A class missing from a small --train-limit sample counts once: its weight stays finite.
    counts = np.maximum(np.bincount(labels, minlength=len(LABELS)), 1).astype(np.float64)
    weights = (counts.sum() / counts) ** 0.5
    return torch.tensor(weights / weights.mean(), dtype=torch.float32)


# --- evaluation -------------------------------------------------------------------------------


@torch.no_grad()
def predict(
    model: ReviewClassifier, split: EncodedSplit, batch_size: int = 512
) -> tuple[np.ndarray, np.ndarray | None]:
    """The model's log-probabilities (columns in LABELS' order) and rating logits (None without
    a rating head) on a split, rows in the split's order."""
    model.eval()
    out = np.zeros((len(split.ids), len(LABELS)), dtype=np.float32)
    ratings = None if model.rating_head is None else np.zeros((len(split.ids), len(RATINGS)))
    for index in dev_batches(split, batch_size):
        batch = collate(split, index)
        logits, rating_logits = model(batch["input_ids"], batch["attention_mask"])
        out[index] = torch.log_softmax(logits.float(), dim=-1).numpy()
        if ratings is not None:
            ratings[index] = rating_logits.float().numpy()
    model.train()
    return out, ratings


def predict_log_probs(model: ReviewClassifier, split: EncodedSplit, batch_size: int = 512):
    """The model's log-probabilities on a split, rows in the split's order, columns in LABELS'."""
    return predict(model, split, batch_size)[0]


def calibrate_stars(rating_logits: np.ndarray | None, split: EncodedSplit):
    """The rating head's calibration fitted on a split (training.rating_head) and its figures
    there; (None, None) for a model without a head."""
    if rating_logits is None:
        return None, None
    return fit_calibration(rating_logits, split.ratings + 1)


def stars_report(calibration: Calibration | None, figures: dict | None) -> dict | None:
    """The calibration and its dev figures, as training.json records them (None: no head)."""
    if calibration is None:
        return None
    return {"calibration": asdict(calibration), "dev": figures}


# --- training ---------------------------------------------------------------------------------


def lr_lambda(total_steps: int, warmup_steps: int):
    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        progress = (step - warmup_steps) / max(total_steps - warmup_steps, 1)
        return max(0.0, 0.5 * (1 + math.cos(math.pi * min(progress, 1.0))))

    return factor


def step_precision(precision: str) -> str:
    """What the training steps compute in, "bfloat16" or "float32", as the run's records name it.
    "auto" takes bfloat16 only where oneDNN has native bf16 kernels (AVX512-BF16 or AMX):
    elsewhere it is emulated, slower than float32."""
    if precision == "auto":
        return "bfloat16" if torch.ops.mkldnn._is_mkldnn_bf16_supported() else "float32"
    return "bfloat16" if precision == "bf16" else "float32"


def clock() -> np.ndarray:
    """Wall and CPU seconds now. CPU time (all the process's threads) is what other work on a
    shared machine does not stretch, so runs of different objectives compare on it."""
    return np.array([time.monotonic(), time.process_time()])


class TrainingLoop:
    """What both phases share: AdamW with warmup and cosine decay, length-bucketed batches in a
    deterministic order, periodic evaluation, and a resumable state file written atomically."""

    name = "train"

    def __init__(
        self,
        s: TrainSettings,
        out_dir: Path,
        train: EncodedSplit,
        dev: EncodedSplit,
        model: nn.Module,
        lr: float,
        epochs: float,
    ) -> None:
        self.s, self.out_dir, self.train_split, self.dev = s, out_dir, train, dev
        self.model = model
        decay = [p for p in model.parameters() if p.ndim > 1]
        no_decay = [p for p in model.parameters() if p.ndim <= 1]
        self.optimizer = torch.optim.AdamW(
            [
                {"params": decay, "weight_decay": s.weight_decay},
                {"params": no_decay, "weight_decay": 0.0},
            ],
            lr=lr,
        )
        self.lengths = np.fromiter((len(r) for r in train.ids), dtype=np.int64)
        self.steps_per_epoch = math.ceil(len(train.ids) / s.batch_size)
        self.total_steps = int(self.steps_per_epoch * epochs)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, lr_lambda(self.total_steps, int(self.total_steps * s.warmup_ratio))
        )
        self.step, self.best_score, self.bad_evals, self.history = 0, -math.inf, 0, []
        self.bf16 = step_precision(s.precision) == "bfloat16"
        self.origin = clock()  # when this phase would have started had it trained only now

    def time_spent(self) -> np.ndarray:
        """Wall and CPU seconds this phase has trained, over all its runs; the evaluations'
        time is left out, so that it does not depend on the dev set or --eval-every."""
        return clock() - self.origin

    @property
    def state_path(self) -> Path:
        return self.out_dir / f"{self.name}.pt"

    def save_state(self) -> None:
        torch.save(
            {
                "model": self.model.state_dict(),
                "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict(),
                "step": self.step,
                "best_score": self.best_score,
                "bad_evals": self.bad_evals,
                "history": self.history,
                "time_spent": self.time_spent().tolist(),
                "torch_rng": torch.get_rng_state(),
            },
            self.state_path.with_suffix(".tmp"),
        )
        self.state_path.with_suffix(".tmp").replace(self.state_path)  # never a torn checkpoint

    def load_state(self) -> None:
        state = torch.load(self.state_path, weights_only=False)
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.step, self.best_score = state["step"], state["best_score"]
        self.bad_evals, self.history = state["bad_evals"], state["history"]
        # States saved before the time was kept count from this resume.
        self.origin = clock() - np.array(state.get("time_spent", [0.0, 0.0]))
        torch.set_rng_state(state["torch_rng"])
        log.info("%s: resumed at step %d (best %.4f)", self.name, self.step, self.best_score)

    def batches_from(self, step: int):
        """The deterministic batch order of every epoch, starting at a given global step."""
        epoch = step // self.steps_per_epoch
        while True:
            batches = length_bucketed_batches(self.lengths, self.s.batch_size, self.s.seed + epoch)
            for position in range(step - epoch * self.steps_per_epoch, len(batches)):
                yield batches[position]
            epoch += 1
            step = epoch * self.steps_per_epoch

    def loss(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        raise NotImplementedError

    def dev_metrics(self) -> dict[str, float]:
        """Dev figures with a "score" (higher is better) that picks the checkpoint kept."""
        raise NotImplementedError

    def keep_best(self) -> None:
        raise NotImplementedError

    def keep_snapshot(self) -> None:
        """Called at every evaluation (phase 2 keeps the last few for weight averaging)."""

    def evaluate(self) -> bool:
        """Dev figures; keeps the model when it improved. False when patience ran out."""
        seconds, cpu_seconds = self.time_spent().round(3).tolist()
        started = clock()
        metrics = {**self.dev_metrics(), "step": self.step}
        metrics |= {"train_seconds": seconds, "train_cpu_seconds": cpu_seconds}
        self.history.append(metrics)
        log.info(
            "%s step %d dev %s", self.name, self.step, {k: round(v, 4) for k, v in metrics.items()}
        )
        if metrics["score"] > self.best_score:
            self.best_score, self.bad_evals = metrics["score"], 0
            self.keep_best()
        else:
            self.bad_evals += 1
        self.keep_snapshot()
        self.origin += clock() - started  # an evaluation is not training time
        self.save_state()
        return self.bad_evals < self.s.patience

    def run(self, deadline: float) -> str:
        self.model.train()
        batches = self.batches_from(self.step)
        bar = tqdm(total=self.total_steps, initial=self.step, desc=self.name, mininterval=10)
        while self.step < self.total_steps:
            if time.monotonic() > deadline:
                self.save_state()
                return "time limit"
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.bf16):
                loss = self.loss(collate(self.train_split, next(batches)))
            loss.backward()
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
            self.optimizer.step()
            self.scheduler.step()
            self.optimizer.zero_grad(set_to_none=False)  # reused buffers: no page faults
            self.step += 1
            bar.update(1)
            bar.set_postfix(loss=f"{loss.item():.3f}", refresh=False)
            if self.step % self.s.eval_every == 0 and not self.evaluate():
                return "early stop"
        if not self.history or self.history[-1]["step"] != self.step:
            self.evaluate()
        return "finished"


def mask_tokens(
    ids: torch.Tensor, attention_mask: torch.Tensor, s: TrainSettings, vocab_size: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """BERT's dynamic masking: of the chosen positions 80% [MASK], 10% a random token, 10% kept.

    Returns the corrupted ids and the targets (-100 where nothing is predicted).
    """
    first_word_id = len(SPECIAL_TOKENS)  # special tokens are never chosen
    candidates = (attention_mask == 1) & (ids >= first_word_id)
    chosen = candidates & (torch.rand(ids.shape) < s.mask_prob)
    targets = torch.where(chosen, ids, torch.full_like(ids, -100))
    roll = torch.rand(ids.shape)
    corrupted = ids.clone()
    corrupted[chosen & (roll < 0.8)] = SPECIAL_TOKENS.index("[MASK]")
    randomised = chosen & (roll >= 0.8) & (roll < 0.9)
    corrupted[randomised] = torch.randint(first_word_id, vocab_size, (int(randomised.sum()),))
    return corrupted, targets


class Pretrainer(TrainingLoop):
    """Phase 1: masked-LM on the training text; the kept encoder is the one with the lowest dev
    masked-LM loss, saved to OUT/pretrained for phase 2."""

    name = "pretrain"

    def __init__(
        self,
        s: TrainSettings,
        out_dir: Path,
        train: EncodedSplit,
        dev: EncodedSplit,
        config: BertConfig,
        model: nn.Module | None = None,  # another objective's network (ElectraPretrainer's)
    ) -> None:
        model = BertForMaskedLM(config) if model is None else model
        super().__init__(s, out_dir, train, dev, model, s.pretrain_lr, s.pretrain_epochs)
        # The same masked dev positions at every evaluation, so the losses compare.
        self.dev_batches = [collate(dev, index) for index in dev_batches(dev, 512)]
        generator = torch.get_rng_state()
        torch.manual_seed(s.seed)
        self.dev_masked = [
            mask_tokens(b["input_ids"], b["attention_mask"], s, config.vocab_size)
            for b in self.dev_batches
        ]
        torch.set_rng_state(generator)

    def masked_lm_loss(self, ids, attention_mask, targets) -> torch.Tensor:
        hidden = self.model.bert(input_ids=ids, attention_mask=attention_mask).last_hidden_state
        predicted = targets != -100  # the vocabulary projection only where it is scored
        return functional.cross_entropy(self.model.cls(hidden[predicted]), targets[predicted])

    def loss(self, batch):
        ids, targets = mask_tokens(
            batch["input_ids"], batch["attention_mask"], self.s, self.model.config.vocab_size
        )
        return self.masked_lm_loss(ids, batch["attention_mask"], targets)

    @torch.no_grad()
    def dev_metrics(self) -> dict[str, float]:
        self.model.eval()
        losses, counts = [], []
        for batch, (ids, targets) in zip(self.dev_batches, self.dev_masked, strict=True):
            losses.append(float(self.masked_lm_loss(ids, batch["attention_mask"], targets)))
            counts.append(int((targets != -100).sum()))
        self.model.train()
        loss = float(np.average(losses, weights=counts))
        return {"masked_lm_loss": loss, "score": -loss}

    def keep_best(self) -> None:
        self.model.save_pretrained(self.out_dir / "pretrained")


# --- ELECTRA ----------------------------------------------------------------------------------


def generator_config(config: BertConfig, s: TrainSettings) -> ElectraConfig:
    """ELECTRA's generator: the encoder's depth at a share of its width (hidden size, heads and
    feed-forward alike, the hidden size a multiple of the heads), reading the encoder's embeddings
    through a projection and predicting tokens through them."""
    heads = max(1, round(config.num_attention_heads * s.generator_width))
    width = heads * max(1, round(config.hidden_size * s.generator_width / heads))
    return ElectraConfig(
        vocab_size=config.vocab_size,
        embedding_size=config.hidden_size,
        hidden_size=width,
        num_hidden_layers=config.num_hidden_layers,
        num_attention_heads=heads,
        intermediate_size=max(1, round(config.intermediate_size * width / config.hidden_size)),
        max_position_embeddings=config.max_position_embeddings,
        type_vocab_size=config.type_vocab_size,
        pad_token_id=config.pad_token_id,
    )


class ReplacedTokenDetection(nn.Module):
    """ELECTRA's pair: a small masked-LM generator whose samples replace the masked tokens, and a
    discriminator that tells for every token whether it was replaced.

    The discriminator is the BERT encoder fine-tuning starts from (BertModel of make_config, so
    it is saved as it is); the generator reads its embeddings (token, position and their norm, as
    ELECTRA shares them) and predicts through its token embeddings, so both losses train them.
    """

    def __init__(self, config: BertConfig, s: TrainSettings) -> None:
        super().__init__()
        self.discriminator = BertModel(config, add_pooling_layer=False)
        self.replaced_head = ElectraDiscriminatorPredictions(config)  # dense, activation, logit
        self.generator = ElectraForMaskedLM(generator_config(config, s))
        embeddings = self.discriminator.embeddings
        self.generator.electra.embeddings = embeddings
        self.generator.generator_lm_head.weight = embeddings.word_embeddings.weight

    def generator_logits(self, ids, attention_mask, targets) -> torch.Tensor:
        """The generator's vocabulary logits at the masked positions (projected only there)."""
        hidden = self.generator.electra(input_ids=ids, attention_mask=attention_mask)
        masked = hidden.last_hidden_state[targets != -100]
        return self.generator.generator_lm_head(self.generator.generator_predictions(masked))

    def replaced_logits(self, ids, attention_mask) -> torch.Tensor:
        """The discriminator's logit that each real token was replaced ([CLS], [SEP] included, as
        ELECTRA scores every token of the input)."""
        hidden = self.discriminator(input_ids=ids, attention_mask=attention_mask)
        return self.replaced_head(hidden.last_hidden_state[attention_mask == 1])


def replace_tokens(
    ids: torch.Tensor, targets: torch.Tensor, samples: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """ELECTRA's corruption: the samples (one per masked position, in order) replace the masked
    tokens. Returns the replaced ids and the labels, 1 where a token differs from the original: a
    sample that is the original token is a real token, as in ELECTRA."""
    replaced = ids.clone()
    replaced[targets != -100] = samples
    return replaced, (replaced != ids).float()


def token_frequencies(split: EncodedSplit, vocab_size: int) -> torch.Tensor:
    """How often each word token occurs in a split (special tokens never)."""
    counts = np.bincount(np.concatenate(split.ids), minlength=vocab_size).astype(np.float64)
    counts[: len(SPECIAL_TOKENS)] = 0
    return torch.from_numpy(counts)


class ElectraPretrainer(Pretrainer):
    """Phase 1 as ELECTRA: the generator's masked-LM loss plus λ times the discriminator's
    replaced-token loss; the kept encoder is the discriminator with the lowest dev replaced-token
    loss, saved to OUT/pretrained for phase 2."""

    def __init__(
        self,
        s: TrainSettings,
        out_dir: Path,
        train: EncodedSplit,
        dev: EncodedSplit,
        config: BertConfig,
    ) -> None:
        super().__init__(s, out_dir, train, dev, config, ReplacedTokenDetection(config, s))
        # Dev replacements fixed once, at the fixed masked positions: the generator's samples get
        # harder to tell as it learns, so losses on them would not compare between evaluations.
        # Drawn from the training text's token frequencies, which are harder to tell than
        # uniformly random tokens.
        frequencies = token_frequencies(train, config.vocab_size)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(s.seed + 1)  # a stream apart from the one that chose the positions
            self.dev_replaced = [
                replace_tokens(
                    b["input_ids"],
                    targets,
                    torch.multinomial(frequencies, int((targets != -100).sum()), replacement=True),
                )
                for b, (_, targets) in zip(self.dev_batches, self.dev_masked, strict=True)
            ]

    def loss(self, batch):
        ids, attention_mask = batch["input_ids"], batch["attention_mask"]
        vocab_size = self.model.discriminator.config.vocab_size
        masked, targets = mask_tokens(ids, attention_mask, self.s, vocab_size)
        logits = self.model.generator_logits(masked, attention_mask, targets)
        generator_loss = functional.cross_entropy(logits, targets[targets != -100])
        # Samples, as ELECTRA's: plausible replacements that vary from step to step; no gradient
        # flows through them.
        samples = torch.multinomial(logits.detach().softmax(-1), 1).squeeze(1)
        replaced, labels = replace_tokens(ids, targets, samples)
        replaced_loss = functional.binary_cross_entropy_with_logits(
            self.model.replaced_logits(replaced, attention_mask), labels[attention_mask == 1]
        )
        return generator_loss + self.s.replaced_token_weight * replaced_loss

    @torch.no_grad()
    def dev_metrics(self) -> dict[str, float]:
        self.model.eval()
        generator_loss = replaced_loss = correct = masked_count = real_count = 0.0
        batches = zip(self.dev_batches, self.dev_masked, self.dev_replaced, strict=True)
        for batch, (masked, targets), (replaced, labels) in batches:
            attention_mask = batch["attention_mask"]
            predicted = targets[targets != -100]
            logits = self.model.generator_logits(masked, attention_mask, targets)
            generator_loss += float(functional.cross_entropy(logits, predicted, reduction="sum"))
            masked_count += len(predicted)
            real = labels[attention_mask == 1]
            told = self.model.replaced_logits(replaced, attention_mask)
            replaced_loss += float(
                functional.binary_cross_entropy_with_logits(told, real, reduction="sum")
            )
            correct += int(((told > 0).float() == real).sum())
            real_count += len(real)
        self.model.train()
        loss = replaced_loss / real_count
        return {
            "replaced_token_loss": loss,
            "replaced_token_accuracy": correct / real_count,
            "generator_masked_lm_loss": generator_loss / masked_count,
            "score": -loss,
        }

    def keep_best(self) -> None:
        self.model.discriminator.save_pretrained(self.out_dir / "pretrained")


PRETRAINERS = {"mlm": Pretrainer, "electra": ElectraPretrainer}


class Trainer(TrainingLoop):
    """Phase 2: sentiment with the rating head; the kept model is the best dev score."""

    def __init__(
        self,
        s: TrainSettings,
        out_dir: Path,
        train: EncodedSplit,
        dev: EncodedSplit,
        config: BertConfig,
        encoder: Path | None,
    ) -> None:
        model = ReviewClassifier(config)
        if encoder is not None:  # the pre-trained encoder; pooler and heads start fresh
            model.classifier = BertForSequenceClassification.from_pretrained(encoder, config=config)
        super().__init__(s, out_dir, train, dev, model, s.lr, s.epochs)
        self.label_loss = nn.CrossEntropyLoss(weight=class_weights(train.labels))
        self.rating_loss = nn.CrossEntropyLoss()

    def loss(self, batch):
        label_logits, rating_logits = self.model(batch["input_ids"], batch["attention_mask"])
        gold = self.label_loss(label_logits, batch["labels"]) + (
            self.s.rating_loss_weight * self.rating_loss(rating_logits, batch["ratings"])
        )
        if "teacher_labels" not in batch:
            return gold
        # Cross-entropy against the teachers' probabilities: KL divergence's gradient.
        soft = functional.cross_entropy(label_logits, batch["teacher_labels"])
        if "teacher_ratings" in batch:
            soft = soft + self.s.rating_loss_weight * functional.cross_entropy(
                rating_logits, batch["teacher_ratings"]
            )
        return (1 - self.s.teacher_weight) * gold + self.s.teacher_weight * soft

    def dev_metrics(self) -> dict[str, float]:
        metrics = headline_metrics(predict_log_probs(self.model, self.dev), self.dev.labels)
        return {**metrics, "score": score(metrics)}

    def keep_best(self) -> None:
        self.model.save(self.out_dir / "best")

    def keep_snapshot(self) -> None:
        """The classifier's and rating head's weights at this evaluation; only the last
        `average_last` stay."""
        if self.s.average_last < 2:
            return
        snapshots = self.out_dir / "snapshots"
        snapshots.mkdir(exist_ok=True)
        torch.save(self.model.state_dict(), snapshots / f"step-{self.step:07d}.pt")
        for old in sorted(snapshots.glob("step-*.pt"))[: -self.s.average_last]:
            old.unlink()


def averaged_classifier(
    out_dir: Path, config: BertConfig
) -> tuple[ReviewClassifier, list[int]] | None:
    """The mean of the kept snapshots' weights (late points of one cosine-decayed run lie in one
    basin, where their average tends to generalise better than any of them); None if under two."""
    paths = sorted((out_dir / "snapshots").glob("step-*.pt"))
    if len(paths) < 2:
        return None
    states = [torch.load(path, weights_only=True) for path in paths]
    model = mean_classifier(states, config)
    return model, [int(path.stem.removeprefix("step-")) for path in paths]


def mean_classifier(states: list[dict], config: BertConfig) -> ReviewClassifier:
    """A model whose every weight is the mean of the states' (snapshots, or a soup); with a
    rating head when every state has one."""
    states = [_review_state(state) for state in states]
    with_head = all("rating_head.weight" in state for state in states)
    keys = [key for key in states[0] if with_head or not key.startswith("rating_head.")]
    model = ReviewClassifier(config, rating_head=with_head)
    model.load_state_dict({key: sum(s[key] for s in states) / len(states) for key in keys})
    return model


def _review_state(state: dict) -> dict:
    """A ReviewClassifier's state; snapshots kept before the rating head was (a resumed run's)
    hold the classifier's alone."""
    if any(key.startswith("classifier.bert.") for key in state):
        return state
    return {f"classifier.{key}": value for key, value in state.items()}


def choose_final(out_dir: Path, dev: EncodedSplit):
    """The best evaluated checkpoint or the average of the last ones, whichever scores higher on
    dev; returns it, its dev log-probabilities and rating logits, and the comparison for the
    training report."""
    best = ReviewClassifier.load(out_dir / "best")
    best_log_probs, best_ratings = predict(best, dev)
    best_metrics = headline_metrics(best_log_probs, dev.labels)
    report = {"best": best_metrics}
    averaged = averaged_classifier(out_dir, best.classifier.config)
    if averaged is None:
        return best, best_log_probs, best_ratings, report | {"chosen": "best"}
    model, steps = averaged
    log_probs, ratings = predict(model, dev)
    metrics = headline_metrics(log_probs, dev.labels)
    report |= {"averaged": metrics | {"steps": steps}}
    if score(metrics) > score(best_metrics):
        return model, log_probs, ratings, report | {"chosen": "averaged"}
    return best, best_log_probs, best_ratings, report | {"chosen": "best"}


def finalize(
    out_dir: Path,
    dev: EncodedSplit,
    tokenizer: PreTrainedTokenizerFast,
    s: TrainSettings,
    reason: str,
    trainer: Trainer,
    pretraining: dict | None,
    distillation: dict | None = None,
) -> dict:
    """The final model with dev-tuned logit offsets folded into its classifier bias and its
    rating head calibrated on dev."""
    best, log_probs, rating_logits, selection = choose_final(out_dir, dev)
    log.info("final model: %s", json.dumps(selection))
    raw = headline_metrics(log_probs, dev.labels)
    offsets, tuned = tune_logit_offsets(log_probs, dev.labels)
    with torch.no_grad():
        best.classifier.classifier.bias += torch.from_numpy(offsets)
    calibration, stars = calibrate_stars(rating_logits, dev)
    checkpoint = out_dir / "checkpoint"
    best.save(checkpoint, calibration, stars)
    tokenizer.save_pretrained(checkpoint)
    report = {
        "settings": asdict(s),
        "pretraining": pretraining,
        "distillation": distillation,
        "stopped": reason,
        "steps": trainer.step,
        "selection": selection,
        "dev_raw": raw,
        "dev_tuned": tuned,
        "logit_offsets": offsets.tolist(),
        "stars": stars_report(calibration, stars),
        "history": trainer.history,
        "parameters": sum(p.numel() for p in best.parameters()),
        "steps_computed_in": step_precision(s.precision),
    }
    (checkpoint / "training.json").write_text(json.dumps(report, indent=2))
    return report


def attach_teachers(
    s: TrainSettings,
    train: EncodedSplit,
    dev: EncodedSplit,
    out_dir: Path,
    ngram: NgramTeacher | None,
) -> dict:
    """Sets train's soft targets (training.distill): the teachers' mean distributions, kept in
    OUT for --resume, with the n-gram teacher's logits mixed in when there is one; returns the
    record training.json keeps, with the ensemble's dev figures."""
    weights = digests(s.teacher)
    kept = kept_targets(out_dir, s.teacher, weights, len(train.ids))
    on_dev = None
    if kept is None:
        on_dev, on_train, record = score_teachers(s, train, dev)
        record = keep_targets(out_dir, s.teacher, weights, on_train, record)
    else:
        on_train, record = kept
    if ngram is not None:
        if on_dev is None:
            on_dev = mean_distributions([predict(teacher, dev) for teacher in load_teachers(s)])
        on_train, record["ngram_teacher"] = mix_ngram_teacher(on_dev, on_train, ngram, dev)
        log.info("teachers' ensemble with the n-gram teacher on dev %s", record["ngram_teacher"])
    on_train.attach(train)
    return record


def load_teachers(s: TrainSettings) -> list[ReviewClassifier]:
    return [ReviewClassifier.load(Path(path)) for path in s.teacher]


def score_teachers(
    s: TrainSettings, train: EncodedSplit, dev: EncodedSplit
) -> tuple[Ensemble, Ensemble, dict]:
    """The teachers' mean distributions on dev and on the training reviews, and their record."""
    started = time.monotonic()
    teachers = load_teachers(s)
    on_dev = mean_distributions([predict(teacher, dev) for teacher in teachers])
    bf16 = step_precision(s.precision) == "bfloat16"  # soft targets need no more than the steps
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        on_train = mean_distributions([predict(teacher, train) for teacher in teachers])
    dev_figures = headline_metrics(on_dev.labels, dev.labels)  # probabilities rank as scores
    log.info("teachers' ensemble on dev %s", dev_figures)
    minutes = round((time.monotonic() - started) / 60, 1)
    return on_dev, on_train, {"dev": dev_figures, "minutes": minutes}


def check_teachers(
    s: TrainSettings, tokenizer: PreTrainedTokenizerFast, train_reviews: int
) -> NgramTeacher | None:
    """Refuses teachers this run cannot learn from, before any work; the n-gram teacher, if any."""
    if s.ngram_teacher is not None and not s.teacher:
        raise UsageError("--ngram-teacher is mixed into the teachers' targets: give --teacher too")
    if s.teacher:
        check_vocabularies(s.teacher, tokenizer)
    if s.ngram_teacher is None:
        return None
    vocabulary = vocabulary_digest(tokenizer.backend_tokenizer.get_vocab())
    directory = Path(s.ngram_teacher)
    ngram = NgramTeacher.load(directory)
    ngram.check_fits(vocabulary, train_reviews, directory)
    return ngram


def main(args: TrainRunOptions, s: TrainSettings) -> int:
    """`python -m training train`: both phases, or what is left of them with --resume."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    if not 0 <= s.teacher_weight <= 1:
        raise UsageError(f"--teacher-weight must be within 0..1, got {s.teacher_weight}")
    start = time.monotonic()
    deadline = start + 60 * args.max_minutes if args.max_minutes else math.inf
    random.seed(s.seed)
    np.random.seed(s.seed)
    torch.manual_seed(s.seed)
    if args.threads:
        torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "settings.json").write_text(json.dumps(asdict(s), indent=2))

    tokenizer_dir = args.out / "tokenizer"
    if args.resume and tokenizer_dir.exists():
        tokenizer = PreTrainedTokenizerFast.from_pretrained(tokenizer_dir)
    else:
        texts = [r.text for r in read_reviews(args.data_dir / "train.tsv.gz", limit=s.train_limit)]
        tokenizer = train_tokenizer(texts, s.vocab_size, s.max_tokens, tokenizer_dir)
    train = encode_split(tokenizer, args.data_dir / "train.tsv.gz", s.train_limit)
    dev = encode_split(tokenizer, args.data_dir / "dev.tsv.gz", None)
    log.info(
        "encoded %d train / %d dev reviews in %.0fs; training steps in %s",
        len(train.ids),
        len(dev.ids),
        time.monotonic() - start,
        step_precision(s.precision),
    )
    ngram_teacher = check_teachers(s, tokenizer, len(train.ids))

    config = make_config(s, tokenizer)
    pretraining = None
    if s.pretrain_epochs > 0:
        pretraining = pretrain(s, args, train, dev, config, deadline)
        if pretraining is None:
            log.info("pre-training paused at the time limit; --resume goes on")
            return 0
    encoder = args.out / "pretrained" if pretraining else None
    distillation = attach_teachers(s, train, dev, args.out, ngram_teacher) if s.teacher else None
    trainer = Trainer(s, args.out, train, dev, config, encoder)
    if args.resume and trainer.state_path.exists():
        trainer.load_state()
    else:  # the weights averaged at the end are this run's own
        shutil.rmtree(args.out / "snapshots", ignore_errors=True)
    reason = trainer.run(deadline)
    log.info("training stopped: %s after %d steps", reason, trainer.step)
    report = finalize(args.out, dev, tokenizer, s, reason, trainer, pretraining, distillation)
    log.info("dev raw %s tuned %s", report["dev_raw"], report["dev_tuned"])
    return 0


def pretrain(
    s: TrainSettings,
    args: TrainRunOptions,
    train: EncodedSplit,
    dev: EncodedSplit,
    config: BertConfig,
    deadline: float,
) -> dict | None:
    """Phase 1, or its record when an earlier run finished it; None when the time ran out.

    Resuming with more --pretrain-epochs than the record's goes on from the saved state (the
    learning rate follows the longer schedule from there: a warm restart).
    """
    record = args.out / "pretrained" / "pretraining.json"
    if args.resume and record.exists():
        done = json.loads(record.read_text())
        objective = done.get("objective", "mlm")  # records from before ELECTRA are masked LM's
        if objective != s.pretrain_objective:
            raise UsageError(
                f"{record.parent} was pre-trained with --pretrain-objective {objective}; "
                "resume with that, or start another --out"
            )
        if done.get("epochs", s.pretrain_epochs) >= s.pretrain_epochs:
            return done
        log.info("pre-training goes on from %s to %s epochs", done["epochs"], s.pretrain_epochs)
    pretrainer = PRETRAINERS[s.pretrain_objective](s, args.out, train, dev, config)
    if args.resume and pretrainer.state_path.exists():
        pretrainer.load_state()
    # A fine-tuning state belongs to the encoder it started from, which is about to change.
    (args.out / f"{Trainer.name}.pt").unlink(missing_ok=True)
    reason = pretrainer.run(deadline)
    if reason == "time limit":
        return None
    log.info("pre-training stopped: %s after %d steps", reason, pretrainer.step)
    report = {
        "objective": s.pretrain_objective,
        "stopped": reason,
        "epochs": s.pretrain_epochs,
        "steps": pretrainer.step,
        "history": pretrainer.history,
        "steps_computed_in": step_precision(s.precision),
    }
    record.write_text(json.dumps(report, indent=2))
    return report
