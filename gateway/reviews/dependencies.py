"""`ValidReview`: the review named in the path, or a 404 for every route that takes one."""

from typing import Annotated

from fastapi import Depends, HTTPException, status

from gateway.database import SessionDep
from gateway.reviews import service as review_service
from gateway.reviews.models import Review

REVIEW_NOT_FOUND = "Review not found"


def valid_review_id(review_id: int, session: SessionDep) -> Review:
    review = review_service.get(session=session, review_id=review_id)
    if review is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=REVIEW_NOT_FOUND)
    return review


ValidReview = Annotated[Review, Depends(valid_review_id)]
