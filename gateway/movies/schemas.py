"""Request and response bodies for movies."""

from datetime import date, datetime

from pydantic import BaseModel, ConfigDict

from gateway.fields import HttpUrlText, IsoDate, not_null, text

Title = text(min_length=1, max_length=200)
Name = text(max_length=100)


class _MovieDetails(BaseModel):
    release_date: IsoDate | None = None
    director: Name | None = None
    genre: Name | None = None
    poster_url: HttpUrlText | None = None


class MovieCreate(_MovieDetails):
    title: Title


class MovieUpdate(_MovieDetails):
    """Only the fields sent are changed; `null` clears an optional field."""

    title: not_null(Title) = None


class MovieRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    title: str
    release_date: date | None
    director: str | None
    genre: str | None
    poster_url: str | None
    created_at: datetime
