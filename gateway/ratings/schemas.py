"""The rating response body."""

from pydantic import BaseModel, Field

from gateway.scoring.client import Label


class Rating(BaseModel):
    """A movie's rating from its scored reviews; pending reviews count in `review_count` only."""

    movie_id: int
    average_score: float | None = Field(
        description="Mean positivity of the scored reviews, in [0, 1]; null when none is scored."
    )
    review_count: int
    scored_count: int
    counts: dict[Label, int] = Field(description="Scored reviews per label.")
    ratios: dict[Label, float] = Field(description="counts / scored_count; 0 when none is scored.")
