"""The live and candidate models compared over the reviews both scored, in a few SQL aggregates."""

import asyncio

from fastapi import HTTPException, status
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from gateway.movies.models import Movie
from gateway.reviews.models import Review, ReviewStatus
from gateway.rollout.metrics import RolloutMetrics
from gateway.rollout.models import CandidatePrediction
from gateway.rollout.schemas import (
    Comparison,
    Disagreement,
    MeanPositivity,
    Models,
    MovieShift,
    ServedModel,
    StarsComparison,
)
from gateway.scoring.client import ModelServiceClient, ModelServiceError

MOVIES_SHOWN = 10
DISAGREEMENTS_SHOWN = 20
NO_CANDIDATE = (
    "No candidate model: set SHADOW_MODEL_SERVICE_URL to run one in shadow, or name a tag "
    "that was (?candidate=korean-sentiment:VERSION)."
)
NO_LIVE_SCORES = "No review has a live score yet, so there is nothing to compare."


def reviews_by_model(*, session: Session) -> dict[str, int]:
    """How many reviews each model tag scored (their live score)."""
    rows = session.execute(
        select(Review.sentiment_model, func.count())
        .where(Review.status == ReviewStatus.SCORED)
        .group_by(Review.sentiment_model)
    )
    return {tag: count for tag, count in rows}


def candidate_predictions_by_model(*, session: Session) -> dict[str, int]:
    """How many reviews each candidate tag scored in shadow."""
    rows = session.execute(
        select(CandidatePrediction.model_tag, func.count()).group_by(CandidatePrediction.model_tag)
    )
    return {tag: count for tag, count in rows}


def latest_live_tag(*, session: Session) -> str | None:
    """The tag of the most recently scored review: the live model, while its service is away."""
    return session.scalar(
        select(Review.sentiment_model)
        .where(Review.status == ReviewStatus.SCORED)
        .order_by(Review.scored_at.desc().nulls_last(), Review.id.desc())
        .limit(1)
    )


def has_candidate(*, session: Session, candidate: str) -> bool:
    return (
        session.scalar(
            select(CandidatePrediction.id)
            .where(CandidatePrediction.model_tag == candidate)
            .limit(1)
        )
        is not None
    )


def compare(*, session: Session, live: str, candidate: str) -> Comparison:
    """Agreement, confusion, mean positivity, mean stars, the movies that would move most and the
    latest disagreements, over the reviews `live` scored and `candidate` scored in shadow."""
    both = (
        select(Review, CandidatePrediction)
        .join(CandidatePrediction, CandidatePrediction.review_id == Review.id)
        .where(
            CandidatePrediction.model_tag == candidate,
            Review.status == ReviewStatus.SCORED,
            Review.sentiment_model == live,
        )
    )
    confusion: dict[str, dict[str, int]] = {}
    n = agreed = 0
    live_sum = candidate_sum = 0.0
    cells = session.execute(
        both.with_only_columns(
            Review.sentiment_label,
            CandidatePrediction.label,
            func.count(),
            func.sum(Review.positivity),
            func.sum(CandidatePrediction.positivity),
        ).group_by(Review.sentiment_label, CandidatePrediction.label)
    )
    for live_label, candidate_label, count, live_positivity, candidate_positivity in cells:
        confusion.setdefault(live_label, {})[candidate_label] = count
        n += count
        agreed += count if live_label == candidate_label else 0
        live_sum += live_positivity
        candidate_sum += candidate_positivity
    return Comparison(
        live=live,
        candidate=candidate,
        n=n,
        agreement=agreed / n if n else None,
        confusion=confusion,
        mean_positivity=MeanPositivity(
            live=live_sum / n if n else None, candidate=candidate_sum / n if n else None
        ),
        stars=_stars(session, both),
        movies=_movies_moving_most(session, both),
        disagreements=_latest_disagreements(session, both),
    )


def _stars(session: Session, both) -> StarsComparison:
    rated = both.where(Review.stars.is_not(None), CandidatePrediction.stars.is_not(None))
    n, live, candidate, difference = session.execute(
        rated.with_only_columns(
            func.count(),
            func.avg(Review.stars),
            func.avg(CandidatePrediction.stars),
            func.avg(func.abs(CandidatePrediction.stars - Review.stars)),
        )
    ).one()
    return StarsComparison(n=n, live=live, candidate=candidate, mean_absolute_difference=difference)


def _movies_moving_most(session: Session, both) -> list[MovieShift]:
    live_average = func.avg(Review.positivity)
    candidate_average = func.avg(CandidatePrediction.positivity)
    rows = session.execute(
        both.join(Movie, Movie.id == Review.movie_id)
        .with_only_columns(Movie.id, Movie.title, live_average, candidate_average, func.count())
        .group_by(Movie.id, Movie.title)
        .order_by(func.abs(candidate_average - live_average).desc(), Movie.id)
        .limit(MOVIES_SHOWN)
    )
    return [
        MovieShift(
            movie_id=movie_id,
            title=title,
            live_average=live,
            candidate_average=candidate,
            shift=candidate - live,
            n=count,
        )
        for movie_id, title, live, candidate, count in rows
    ]


def _latest_disagreements(session: Session, both) -> list[Disagreement]:
    rows = session.execute(
        both.where(Review.sentiment_label != CandidatePrediction.label)
        .with_only_columns(
            Review.id.label("review_id"),
            Review.movie_id,
            Review.content,
            Review.sentiment_label.label("live_label"),
            CandidatePrediction.label.label("candidate_label"),
            Review.positivity.label("live_positivity"),
            CandidatePrediction.positivity.label("candidate_positivity"),
        )
        .order_by(Review.id.desc())
        .limit(DISAGREEMENTS_SHOWN)
    )
    return [Disagreement(**row._mapping) for row in rows]


def latest_candidate_tag(*, session: Session) -> str | None:
    """The tag of the latest prediction stored in shadow: the candidate, while it is away."""
    return session.scalar(
        select(CandidatePrediction.model_tag)
        .order_by(CandidatePrediction.created_at.desc(), CandidatePrediction.id.desc())
        .limit(1)
    )


async def describe(client: ModelServiceClient) -> ServedModel:
    """The model a service serves, with its card's labels and metrics; unreachable is an answer."""
    try:
        description = await client.describe()
    except ModelServiceError:
        return ServedModel(tag=None, reachable=False)
    card = description.get("card") or {}
    return ServedModel(
        tag=description["model"],
        reachable=True,
        labels=description.get("labels"),
        stars=description.get("stars"),
        metrics=card.get("metrics"),
    )


async def overview(
    *, session: Session, live: ModelServiceClient, candidate: ModelServiceClient | None
) -> Models:
    """The live model, the candidate when one is set, and what each model tag scored."""
    live_model, candidate_model = await asyncio.gather(
        describe(live), describe(candidate) if candidate else _none()
    )

    def counts() -> tuple[dict[str, int], dict[str, int]]:
        return reviews_by_model(session=session), candidate_predictions_by_model(session=session)

    by_live, by_candidate = await run_in_threadpool(counts)
    return Models(
        live=live_model,
        candidate=candidate_model,
        reviews_by_model=by_live,
        candidate_predictions_by_model=by_candidate,
    )


async def comparison(
    *,
    session: Session,
    live: ModelServiceClient,
    candidate: ModelServiceClient | None,
    candidate_tag: str | None,
    metrics: RolloutMetrics,
) -> Comparison:
    """The comparison of the live model with `candidate_tag`, by default the configured candidate.

    The tags are the ones the services serve now; while a service is away, the latest tag stored.
    """
    live_model = await describe(live)
    if candidate_tag is None and candidate is not None:
        candidate_tag = (await describe(candidate)).tag

    def compute() -> Comparison:
        live_tag = live_model.tag or latest_live_tag(session=session)
        tag = candidate_tag or (latest_candidate_tag(session=session) if candidate else None)
        if tag is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, detail=NO_CANDIDATE)
        if not has_candidate(session=session, candidate=tag):
            raise HTTPException(
                status.HTTP_404_NOT_FOUND,
                detail=f"No predictions of candidate {tag!r} are stored: run it in shadow first "
                "(SHADOW_MODEL_SERVICE_URL), or see GET /models for the tags there are.",
            )
        if live_tag is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, detail=NO_LIVE_SCORES)
        return compare(session=session, live=live_tag, candidate=tag)

    result = await run_in_threadpool(compute)
    if result.agreement is not None:
        metrics.agreement.labels(result.live, result.candidate).set(result.agreement)
    return result


async def _none() -> None:
    return None
