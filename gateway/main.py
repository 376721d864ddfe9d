"""The FastAPI application: routers, error handlers, and the lifespan that wires the resources."""

import asyncio
import contextlib
from collections.abc import AsyncIterator

from fastapi import FastAPI
from prometheus_client import CollectorRegistry
from prometheus_fastapi_instrumentator import Instrumentator
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from gateway.database import create_db_engine, create_session_factory
from gateway.errors import add_exception_handlers
from gateway.health import router as health_router
from gateway.migrate import upgrade_database
from gateway.movies.views import router as movies_router
from gateway.ratings.views import router as ratings_router
from gateway.read_retry import ReadRetryMiddleware
from gateway.reviews.dependencies import review_inserts
from gateway.reviews.scorer import ReviewScorer, run_background_scorer
from gateway.reviews.views import router as reviews_router
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
        app.state.review_inserts = review_inserts(
            app.state.session_factory,
            max_reviews=app_settings.db_write_max_reviews,
            max_in_flight=app_settings.db_write_max_in_flight,
        )
        app.state.model_service = ModelServiceClient.from_settings(app_settings)
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
        )
        background = None
        if app_settings.scorer_enabled:
            background = asyncio.create_task(
                run_background_scorer(
                    app.state.scorer,
                    batch_size=app_settings.scorer_batch_size,
                    poll_interval_s=app_settings.scorer_poll_interval_s,
                    max_backoff_s=app_settings.scorer_max_backoff_s,
                ),
                name="background-scorer",
            )
        try:
            yield
        finally:
            if background is not None:
                background.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await background
            await app.state.model_service.aclose()
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
    metrics = Instrumentator(registry=CollectorRegistry(), excluded_handlers=["/metrics"])
    metrics.instrument(app).expose(app, include_in_schema=False)
    routers = (auth_router, users_router, movies_router, reviews_router, ratings_router)
    for router in (*routers, health_router):
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


app = create_app()
