"""Request and response bodies for reviews."""

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from gateway.fields import not_null, text
from gateway.scoring.client import Label

Author = text(min_length=1, max_length=100)
Content = text(min_length=5, max_length=2000)


class ReviewCreate(BaseModel):
    movie_id: int
    author: Author
    content: Content = Field(
        description="5 to 2000 characters once surrounding whitespace is trimmed."
    )


class ReviewUpdate(BaseModel):
    """Only the fields sent are changed; new content is scored again."""

    author: not_null(Author) = None
    content: not_null(Content) = None


class ReviewRead(BaseModel):
    """A review; the sentiment fields are null while `status` is `pending`."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    movie_id: int
    author: str
    content: str
    status: Literal["scored", "pending"]
    sentiment_label: Label | None = Field(description="negative, neutral or positive")
    sentiment_score: float | None = Field(description="The model's confidence in the label.")
    positivity: float | None = Field(description="P(positive) + 0.5 * P(neutral), in [0, 1].")
    probabilities: dict[Label, float] | None
    sentiment_model: str | None = Field(description="Tag of the model that scored the review.")
    created_at: datetime
