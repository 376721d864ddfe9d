"""The rating response body."""

from pydantic import BaseModel, Field

from gateway.scoring.client import Label


class Rating(BaseModel):
    """A movie's rating from its scored reviews; pending reviews count in `review_count` only."""

    movie_id: int
    average_score: float | None = Field(
        description="Mean positivity of the scored reviews, in [0, 1]; null when none is scored."
    )
    average_stars: float | None = Field(
        description="Mean stars (1-10) of the scored reviews that have stars; null when none has."
    )
    review_count: int
    scored_count: int
    stars_count: int = Field(description="Scored reviews with stars: what `average_stars` is of.")
    counts: dict[Label, int] = Field(description="Scored reviews per label.")
    ratios: dict[Label, float] = Field(description="counts / scored_count; 0 when none is scored.")
