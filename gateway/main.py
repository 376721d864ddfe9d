"""The FastAPI application: routers, error handlers, and the lifespan that wires the resources."""

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import timedelta

from fastapi import FastAPI
from prometheus_client import CollectorRegistry
from prometheus_fastapi_instrumentator import Instrumentator
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from gateway.database import create_db_engine, create_session_factory
from gateway.errors import add_exception_handlers
from gateway.health import router as health_router
from gateway.idempotency.service import run_purge
from gateway.migrate import upgrade_database
from gateway.movies.views import router as movies_router
from gateway.ratings.views import router as ratings_router
from gateway.read_retry import ReadRetryMiddleware
from gateway.reviews.dependencies import review_inserts
from gateway.reviews.models import Review
from gateway.reviews.scorer import ReviewScorer, run_background_scorer
from gateway.reviews.views import router as reviews_router
from gateway.rollout.metrics import RolloutMetrics
from gateway.rollout.shadow import ShadowScorer
from gateway.rollout.views import router as models_router
from gateway.schemas import DATABASE_UNAVAILABLE
from gateway.scoring.batcher import ClassifyBatcher
from gateway.scoring.client import ModelServiceClient
from gateway.security import add_security
from gateway.settings import Settings, settings
from gateway.users import service as user_service
from gateway.users.views import auth_router, users_router


def create_app(app_settings: Settings = settings) -> FastAPI:
    """The gateway app; `app_settings` replaces the environment's settings (tests)."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = create_db_engine(app_settings)
        await run_in_threadpool(upgrade_database, engine, wait_s=app_settings.db_startup_wait_s)
        app.state.session_factory = create_session_factory(engine)
        await run_in_threadpool(_create_first_superuser, app.state.session_factory, app_settings)
        app.state.idempotency_key_ttl = timedelta(hours=app_settings.idempotency_key_ttl_hours)
        app.state.review_inserts = review_inserts(
            app.state.session_factory,
            max_reviews=app_settings.db_write_max_reviews,
            max_in_flight=app_settings.db_write_max_in_flight,
        )
        app.state.model_service = ModelServiceClient.from_settings(app_settings)
        app.state.candidate = ModelServiceClient.candidate_from_settings(app_settings)
        shadow = None
        if app.state.candidate is not None:
            shadow = ShadowScorer(
                app.state.session_factory,
                app.state.candidate,
                rollout_metrics,
                max_queue=app_settings.shadow_queue_size,
                max_texts=app_settings.scoring_max_texts_per_call,
            )
        batcher = ClassifyBatcher(
            app.state.model_service.classify,
            max_texts=app_settings.scoring_max_texts_per_call,
            max_in_flight=app_settings.scoring_max_calls_in_flight,
            timeout_s=app_settings.scoring_timeout_s,
        )
        app.state.scorer = ReviewScorer(
            app.state.session_factory,
            batcher,
            lease_s=app_settings.scorer_lease_s,
            reject_delay_s=app_settings.scorer_reject_delay_s,
            max_calls_per_transaction=app_settings.db_write_max_reviews,
            max_stores_in_flight=app_settings.db_write_max_in_flight,
            on_stored=on_stored(rollout_metrics, shadow),
        )
        background = [
            asyncio.create_task(run_purge(app.state.session_factory), name="idempotency-key-purge")
        ]
        if app_settings.scorer_enabled:
            background.append(
                asyncio.create_task(
                    run_background_scorer(
                        app.state.scorer,
                        batch_size=app_settings.scorer_batch_size,
                        poll_interval_s=app_settings.scorer_poll_interval_s,
                        max_backoff_s=app_settings.scorer_max_backoff_s,
                    ),
                    name="background-scorer",
                )
            )
        if shadow is not None:
            background.append(asyncio.create_task(shadow.run(), name="shadow-scorer"))
        try:
            yield
        finally:
            for task in background:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await app.state.model_service.aclose()
            if app.state.candidate is not None:
                await app.state.candidate.aclose()
            engine.dispose()

    app = FastAPI(
        title="Movie GPT gateway",
        description="Movies, reviews and ratings; the sentiment model service scores the reviews.",
        version="1.0.0",
        lifespan=lifespan,
        responses=DATABASE_UNAVAILABLE,
    )
    add_exception_handlers(app)
    add_security(app, app_settings)
    app.add_middleware(ReadRetryMiddleware)
    # Request counts and latencies per route at /metrics, a registry per app (tests make many);
    # kept out of the OpenAPI, which documents the gateway's own API.
    registry = CollectorRegistry()
    rollout_metrics = app.state.rollout_metrics = RolloutMetrics(registry)
    metrics = Instrumentator(registry=registry, excluded_handlers=["/metrics"])
    metrics.instrument(app).expose(app, include_in_schema=False)
    routers = (auth_router, users_router, movies_router, reviews_router, ratings_router)
    for router in (*routers, models_router, health_router):
        app.include_router(router)
    return app


def _create_first_superuser(session_factory: sessionmaker[Session], app_settings: Settings) -> None:
    password = app_settings.first_superuser_password
    with session_factory() as session:
        user_service.ensure_first_superuser(
            session=session,
            email=app_settings.first_superuser,
            password=password.get_secret_value() if password is not None else None,
        )


def on_stored(
    metrics: RolloutMetrics, shadow: ShadowScorer | None
) -> Callable[[Sequence[Review]], None]:
    """What the scorer does with each stored score: count it, and queue its text for the shadow."""

    def tell(reviews: Sequence[Review]) -> None:
        metrics.count_predictions((r.sentiment_model, r.sentiment_label) for r in reviews)
        if shadow is not None:
            shadow.submit([(review.id, review.content) for review in reviews])

    return tell


app = create_app()
