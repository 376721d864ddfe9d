"""Reading the Naver review TSVs and turning star ratings into sentiment labels."""

from __future__ import annotations

import csv
import gzip
import io
from dataclasses import dataclass
from pathlib import Path

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
