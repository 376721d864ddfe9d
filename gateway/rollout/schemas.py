"""Response bodies of /models and /models/comparison."""

from typing import Any

from pydantic import BaseModel, Field

from gateway.scoring.client import Label


class ServedModel(BaseModel):
    """A model as its service describes it; `reachable` false when the service did not answer."""

    tag: str | None = Field(description="The model tag the service serves, e.g. korean-sentiment:…")
    reachable: bool
    labels: list[str] | None = None
    stars: bool | None = Field(
        default=None,
        description="Whether its predictions carry predicted stars (a bundle without a rating "
        "head answers null stars); null when the service did not say.",
    )
    metrics: dict[str, Any] | None = Field(default=None, description="The model card's metrics.")


class Models(BaseModel):
    live: ServedModel
    candidate: ServedModel | None = Field(description="The model in shadow; null when none is set.")
    reviews_by_model: dict[str, int] = Field(
        description="Reviews whose live score each model tag gave."
    )
    candidate_predictions_by_model: dict[str, int] = Field(
        description="Reviews each candidate tag scored in shadow."
    )


class MeanPositivity(BaseModel):
    live: float | None
    candidate: float | None


class StarsComparison(BaseModel):
    """Both models' stars over the reviews both gave stars (a model without a rating head gives
    none, so n is 0 and the means null)."""

    n: int = Field(description="Reviews both models gave stars.")
    live: float | None = Field(description="The live model's mean stars over them.")
    candidate: float | None = Field(description="The candidate's mean stars over them.")
    mean_absolute_difference: float | None = Field(
        description="The mean of |candidate − live| stars, review by review."
    )


class MovieShift(BaseModel):
    """How a movie's average positivity would move, over its reviews both models scored."""

    movie_id: int
    title: str
    live_average: float
    candidate_average: float
    shift: float = Field(description="candidate_average - live_average")
    n: int


class Disagreement(BaseModel):
    review_id: int
    movie_id: int
    content: str
    live_label: Label
    candidate_label: Label
    live_positivity: float
    candidate_positivity: float


class Comparison(BaseModel):
    """The live and the candidate model over the reviews both scored."""

    live: str
    candidate: str
    n: int = Field(description="Reviews both models scored.")
    agreement: float | None = Field(description="Share of those with the same label.")
    confusion: dict[str, dict[str, int]] = Field(
        description="{live_label: {candidate_label: count}}"
    )
    mean_positivity: MeanPositivity
    stars: StarsComparison
    movies: list[MovieShift] = Field(description="The movies whose rating would move most.")
    disagreements: list[Disagreement] = Field(description="The latest reviews they disagree on.")
