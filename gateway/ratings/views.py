"""The rating route, under /reviews/ where existing clients look for it."""

from fastapi import APIRouter

from gateway.database import SessionDep
from gateway.movies.dependencies import ValidMovie
from gateway.ratings import service as rating_service
from gateway.ratings.schemas import Rating
from gateway.schemas import INVALID_INPUT, NOT_FOUND

router = APIRouter(prefix="/reviews", tags=["ratings"], responses=INVALID_INPUT)


@router.get("/movie/{movie_id}/rating", responses=NOT_FOUND)
def read_rating(movie: ValidMovie, session: SessionDep) -> Rating:
    """The movie's mean positivity and label counts over its scored reviews."""
    return rating_service.get(session=session, movie_id=movie.id)
