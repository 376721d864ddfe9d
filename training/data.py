"""The review data: the Naver review TSVs, star ratings as sentiment labels, and reviews encoded
as token ids in the batches training and dev evaluation read."""

from __future__ import annotations

import csv
import gzip
import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from model_service.inference import LABELS

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedTokenizerFast

# The data stays beside the repository, never inside it.
DEFAULT_DATA_DIR = (
    Path(__file__).resolve().parents[1].parent / "shared" / "data" / "naver-movie-reviews"
)


@dataclass(frozen=True)
class Review:
    review_id: int
    movie_id: int
    rating: int
    date: str
    text: str

    @property
    def label(self) -> str:
        return label_of(self.rating)


def label_of(rating: int) -> str:
    """negative = 1–4, neutral = 5–8, positive = 9–10 (NSMC's cut with the middle kept)."""
    if not 1 <= rating <= 10:
        raise ValueError(f"rating must be 1–10, got {rating}")
    if rating <= 4:
        return "negative"
    return "neutral" if rating <= 8 else "positive"


def read_reviews(path: str | Path, limit: int | None = None) -> list[Review]:
    """Rows of a review TSV (gzip'd or plain): review_id, movie_id, rating, date, text."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    reviews: list[Review] = []
    with opener(path, "rb") as raw:
        rows = csv.DictReader(
            io.TextIOWrapper(raw, encoding="utf-8"), delimiter="\t", quoting=csv.QUOTE_NONE
        )
        for row in rows:
            reviews.append(
                Review(
                    int(row["review_id"]),
                    int(row["movie_id"]),
                    int(row["rating"]),
                    row["date"],
                    row["text"],
                )
            )
            if limit is not None and len(reviews) >= limit:
                break
    return reviews


def gold_labels(reviews: Sequence[Review]) -> np.ndarray:
    """The reviews' labels as indices into LABELS."""
    return np.array([LABELS.index(label_of(r.rating)) for r in reviews], dtype=np.int64)


# --- encoded reviews --------------------------------------------------------------------------


@dataclass
class EncodedSplit:
    ids: list[np.ndarray]
    labels: np.ndarray  # index into LABELS
    ratings: np.ndarray  # 0..9
    # Soft targets of a distillation run (training.distill): the teachers' mean probabilities.
    teacher_labels: np.ndarray | None = None  # (reviews, classes)
    teacher_ratings: np.ndarray | None = None  # (reviews, 10)


def encode_split(tokenizer: PreTrainedTokenizerFast, path: Path, limit: int | None) -> EncodedSplit:
    """A review TSV as token ids, cut at the tokenizer's model_max_length."""
    reviews = read_reviews(path, limit=limit)
    encodings = tokenizer(
        [r.text for r in reviews],
        truncation=True,
        max_length=tokenizer.model_max_length,
        return_attention_mask=False,
        return_token_type_ids=False,
    )["input_ids"]
    return EncodedSplit(
        ids=[np.asarray(e, dtype=np.int64) for e in encodings],
        labels=gold_labels(reviews),
        ratings=np.asarray([r.rating - 1 for r in reviews], dtype=np.int64),
    )


def length_bucketed_batches(lengths: np.ndarray, batch_size: int, seed: int) -> list[np.ndarray]:
    """Shuffled batches of similar-length reviews: little padding, still a random order."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(lengths))
    chunk = batch_size * 50
    batches = []
    for start in range(0, len(order), chunk):
        part = order[start : start + chunk]
        part = part[np.argsort(lengths[part], kind="stable")]
        batches.extend(part[i : i + batch_size] for i in range(0, len(part), batch_size))
    rng.shuffle(batches)
    return batches


def dev_batches(split: EncodedSplit, batch_size: int) -> list[np.ndarray]:
    """Evaluation batches in length order: the least padding, and the same every time."""
    lengths = np.fromiter((len(r) for r in split.ids), dtype=np.int64, count=len(split.ids))
    order = np.argsort(lengths, kind="stable")
    return [order[start : start + batch_size] for start in range(0, len(order), batch_size)]


def collate(split: EncodedSplit, index: np.ndarray) -> dict[str, torch.Tensor]:
    """The reviews at `index` as right-padded tensors with their labels and ratings (and their
    teachers' distributions, when the split has them)."""
    import torch  # only the training side batches tensors; reading reviews needs no torch

    rows = [split.ids[i] for i in index]
    width = max(len(r) for r in rows)
    ids = np.zeros((len(rows), width), dtype=np.int64)
    mask = np.zeros((len(rows), width), dtype=np.int64)
    for i, row in enumerate(rows):
        ids[i, : len(row)] = row
        mask[i, : len(row)] = 1
    batch = {
        "input_ids": torch.from_numpy(ids),
        "attention_mask": torch.from_numpy(mask),
        "labels": torch.from_numpy(split.labels[index]),
        "ratings": torch.from_numpy(split.ratings[index]),
    }
    for name in ("teacher_labels", "teacher_ratings"):
        if getattr(split, name) is not None:
            batch[name] = torch.from_numpy(getattr(split, name)[index])
    return batch
