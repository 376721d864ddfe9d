"""Rows and predictions for the gateway's database-level tests."""

from gateway.movies.models import Movie
from gateway.reviews import claims as scoring
from gateway.reviews.claims import ClaimedReview
from gateway.reviews.models import Review
from gateway.scoring.client import Prediction

LEASE_S = 60.0


def add_pending(session_factory, count: int) -> list[int]:
    """A movie with `count` pending reviews; their ids, oldest first."""
    with session_factory() as session:
        movie = Movie(title="괴물")
        session.add(movie)
        session.flush()
        reviews = [
            Review(movie_id=movie.id, author="a", content=f"리뷰 번호 {n}") for n in range(count)
        ]
        session.add_all(reviews)
        session.commit()
        return [review.id for review in reviews]


def predict(
    label: str = "positive", model: str = "korean-sentiment:new", stars: float | None = None
) -> Prediction:
    probabilities = {"negative": 0.1, "neutral": 0.3, "positive": 0.6}
    return Prediction(
        label=label,
        confidence=probabilities[label],
        probabilities=probabilities,
        positivity=0.75,
        stars=stars,
        model=model,
    )


def claim(session_factory, limit: int = 10, lease_s: float = LEASE_S) -> list[ClaimedReview]:
    with session_factory() as session:
        return scoring.claim_pending(session=session, limit=limit, lease_s=lease_s)
