"""A movie's rating, computed by one aggregate query."""

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from gateway.ratings.schemas import Rating
from gateway.reviews.models import Review, ReviewStatus
from gateway.scoring.client import LABELS


def get(*, session: Session, movie_id: int) -> Rating:
    """Review counts, label mix, mean positivity and mean stars of the movie's scored reviews."""
    scored = Review.status == ReviewStatus.SCORED
    per_label = [
        func.count(Review.id).filter(scored, Review.sentiment_label == label).label(label)
        for label in LABELS
    ]
    row = session.execute(
        select(
            func.count(Review.id).label("review_count"),
            func.count(Review.id).filter(scored).label("scored_count"),
            func.avg(Review.positivity).filter(scored).label("average_score"),
            # AVG and COUNT of a column pass over NULLs: reviews without stars are left out.
            func.avg(Review.stars).filter(scored).label("average_stars"),
            func.count(Review.stars).filter(scored).label("stars_count"),
            *per_label,
        ).where(Review.movie_id == movie_id)
    ).one()
    counts = {label: row._mapping[label] for label in LABELS}
    scored_count = row.scored_count
    return Rating(
        movie_id=movie_id,
        average_score=row.average_score,
        average_stars=row.average_stars,
        review_count=row.review_count,
        scored_count=scored_count,
        stars_count=row.stars_count,
        counts=counts,
        ratios={
            label: count / scored_count if scored_count else 0.0 for label, count in counts.items()
        },
    )
