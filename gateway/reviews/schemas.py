"""Request and response bodies for reviews."""

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from gateway.fields import not_null, text
from gateway.scoring.client import Label

Author = text(min_length=1, max_length=100)
Content = text(min_length=5, max_length=2000)


AUTHOR_IS_THE_ACCOUNT = (
    "Set by machine clients only: a signed-in user's reviews carry their display name."
)


class ReviewCreate(BaseModel):
    movie_id: int
    author: Author | None = Field(default=None, description=AUTHOR_IS_THE_ACCOUNT)
    content: Content = Field(
        description="5 to 2000 characters once surrounding whitespace is trimmed."
    )


class NewReviewRecord(BaseModel):
    """A review as it is stored: the request's fields and who wrote it."""

    movie_id: int
    author: str
    content: str
    user_id: int | None


class ReviewUpdate(BaseModel):
    """Only the fields sent are changed; new content is scored again."""

    author: not_null(Author) = Field(default=None, description=AUTHOR_IS_THE_ACCOUNT)
    content: not_null(Content) = None


class ReviewRead(BaseModel):
    """A review; the sentiment fields are null while `status` is `pending`."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    movie_id: int
    user_id: int | None = Field(description="The account that wrote it; null for older reviews.")
    author: str
    content: str
    status: Literal["scored", "pending"]
    sentiment_label: Label | None = Field(description="negative, neutral or positive")
    sentiment_score: float | None = Field(description="The model's confidence in the label.")
    positivity: float | None = Field(description="P(positive) + 0.5 * P(neutral), in [0, 1].")
    probabilities: dict[Label, float] | None
    stars: float | None = Field(
        description="The star rating (1-10) the model expects the writer gave; null while "
        "pending, and when the model that scored the review has no rating head."
    )
    sentiment_model: str | None = Field(description="Tag of the model that scored the review.")
    created_at: datetime
