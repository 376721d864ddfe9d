"""Routes under /movies/."""

from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from gateway.database import SessionDep
from gateway.fields import Limit, Skip, text
from gateway.idempotency.dependencies import (
    CREATED,
    KEY_CONFLICT,
    IdempotencyKeyDep,
    answered,
)
from gateway.movies import service as movie_service
from gateway.movies.dependencies import ValidMovie
from gateway.movies.models import Movie
from gateway.movies.schemas import MovieCreate, MovieRead, MovieUpdate
from gateway.schemas import FORBIDDEN, INVALID_INPUT, NOT_FOUND, UNREADABLE_BODY, WRITE, Message
from gateway.users.dependencies import AdminUser

router = APIRouter(prefix="/movies", tags=["movies"], responses=INVALID_INPUT)

MOVIE_GONE = "The movie first created with this Idempotency-Key has since been deleted"

SearchText = Annotated[
    text(max_length=200) | None,
    Query(description="Case-insensitive substring of the title, director or genre."),
]


@router.get("/", response_model=list[MovieRead])
def list_movies(
    session: SessionDep, skip: Skip = 0, limit: Limit = 100, q: SearchText = None
) -> list[Movie]:
    """Movies, newest first."""
    return movie_service.get_all(session=session, q=q, skip=skip, limit=limit)


@router.post(
    "/",
    response_model=MovieRead,
    status_code=status.HTTP_201_CREATED,
    responses={**CREATED, **WRITE, **FORBIDDEN, **KEY_CONFLICT, **UNREADABLE_BODY},
)
def create_movie(
    _admin: AdminUser,
    key: IdempotencyKeyDep,
    movie_in: MovieCreate,
    response: Response,
    session: SessionDep,
) -> Movie:
    """Admins only."""
    written = movie_service.create(session=session, movie_in=movie_in, key=key.guarding(movie_in))
    return answered(written, response, gone=MOVIE_GONE)


@router.get("/{movie_id}", response_model=MovieRead, responses=NOT_FOUND)
def read_movie(movie: ValidMovie) -> Movie:
    return movie


@router.patch(
    "/{movie_id}",
    response_model=MovieRead,
    responses={**WRITE, **FORBIDDEN, **NOT_FOUND, **UNREADABLE_BODY},
)
def update_movie(
    _admin: AdminUser, movie: ValidMovie, movie_in: MovieUpdate, session: SessionDep
) -> Movie:
    """Change the fields sent; the rest stay as they are. Admins only."""
    return movie_service.update(session=session, movie=movie, movie_in=movie_in)


@router.delete("/{movie_id}", response_model=Message, responses={**WRITE, **FORBIDDEN, **NOT_FOUND})
def delete_movie(_admin: AdminUser, movie: ValidMovie, session: SessionDep) -> Message:
    """Delete the movie and its reviews. Admins only."""
    movie_service.delete_(session=session, movie=movie)
    return Message(message="Movie deleted successfully")
