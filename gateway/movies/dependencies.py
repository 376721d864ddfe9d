"""`ValidMovie`: the movie named in the path, or a 404 for every route that takes one."""

from typing import Annotated

from fastapi import Depends, HTTPException, status

from gateway.database import SessionDep
from gateway.movies import service as movie_service
from gateway.movies.models import Movie

MOVIE_NOT_FOUND = "Movie not found"


def valid_movie_id(movie_id: int, session: SessionDep) -> Movie:
    movie = movie_service.get(session=session, movie_id=movie_id)
    if movie is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=MOVIE_NOT_FOUND)
    return movie


ValidMovie = Annotated[Movie, Depends(valid_movie_id)]
