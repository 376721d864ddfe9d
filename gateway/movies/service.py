"""Movie queries and changes; each returns what it found or made, `None` for nothing."""

from fastapi import status
from sqlalchemy import delete, or_, select
from sqlalchemy.orm import Session

from gateway.database import MAX_ID
from gateway.idempotency import service as idempotency
from gateway.idempotency.service import KeyedWrite, Refusal, Replay
from gateway.movies.models import Movie
from gateway.movies.schemas import MovieCreate, MovieUpdate


def get(*, session: Session, movie_id: int) -> Movie | None:
    """The movie with this id, or None."""
    if not 1 <= movie_id <= MAX_ID:
        return None
    return session.get(Movie, movie_id)


def get_all(*, session: Session, q: str | None, skip: int, limit: int) -> list[Movie]:
    """Movies newest first; with `q`, those whose title, director or genre contain it."""
    query = select(Movie)
    if q:
        pattern = "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        query = query.where(
            or_(
                *(
                    column.ilike(pattern, escape="\\")
                    for column in (Movie.title, Movie.director, Movie.genre)
                )
            )
        )
    query = query.order_by(Movie.created_at.desc(), Movie.id.desc()).offset(skip).limit(limit)
    return list(session.scalars(query))


def create(
    *, session: Session, movie_in: MovieCreate, key: KeyedWrite | None = None
) -> Movie | Replay[Movie] | Refusal:
    """Store a new movie, and its request's key with it; with a key taken already, nothing: the
    first request's answer (the movie as it is now), or the refusal."""
    movie = Movie(**movie_in.model_dump())
    session.add(movie)
    if key is None:
        session.commit()
        return movie
    session.flush()
    if idempotency.claim(session, [(key, movie.id)], status_code=status.HTTP_201_CREATED):
        session.commit()
        return movie
    session.rollback()
    return idempotency.answer_retry(key, idempotency.earlier(session, [key], Movie).get(key.scope))


def update(*, session: Session, movie: Movie, movie_in: MovieUpdate) -> Movie:
    """Change the fields the client sent."""
    for field, value in movie_in.model_dump(exclude_unset=True).items():
        setattr(movie, field, value)
    session.commit()
    return movie


def delete_(*, session: Session, movie: Movie) -> None:
    """Delete the movie; the database cascades the delete to its reviews."""
    session.execute(delete(Movie).where(Movie.id == movie.id))
    session.commit()
