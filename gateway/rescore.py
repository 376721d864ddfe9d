"""Rescore the reviews that a model other than the one now served scored: the roll-out path.

    python -m gateway.rescore [--batch-size 64] [--limit N] [--dry-run] [--output rescore.json]
Reads DATABASE_URL, MODEL_SERVICE_URL and MODEL_SERVICE_TOKEN as the gateway does. Reviews are
claimed in batches as the gateway's background scorer claims them, so it can run beside live
gateways, and N copies at once (N processes, or the N tasks of a Cloud Run Job) split the work:
each review is rescored once. An interrupted run resumes where it stopped, since only outdated
reviews are picked up; the reviews a killed copy held are taken once their claims lapse.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import time
from datetime import datetime
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker
from tqdm import tqdm

from gateway.database import create_db_engine, create_session_factory, utcnow
from gateway.reviews import claims
from gateway.reviews.scorer import ReviewScorer
from gateway.scoring.client import ModelServiceClient, ModelServiceError
from gateway.settings import settings

log = logging.getLogger("rescore")


def count_outdated(
    session_factory: sessionmaker[Session],
    served_model: str,
    scored_before: datetime,
    *,
    claimed_only: bool = False,
) -> int:
    with session_factory() as session:
        return claims.count_outdated(
            session=session,
            served_model=served_model,
            scored_before=scored_before,
            claimed_only=claimed_only,
        )


async def rescore(
    session_factory: sessionmaker[Session],
    model_service: ModelServiceClient,
    *,
    batch_size: int,
    limit: int | None,
    dry_run: bool,
    poll_s: float = 1.0,
) -> dict:
    """Rescore outdated reviews, oldest first, beside any other copies; a summary of what was done.

    Copies claim disjoint batches. When nothing is left to claim but other copies still hold
    reviews, this one waits: they store them, or (killed) their claims lapse and it takes them.
    """
    started, began_at = time.monotonic(), utcnow()
    served_model = await model_service.served_model()
    outdated = count_outdated(session_factory, served_model, began_at)
    summary = {"served_model": served_model, "outdated_before": outdated, "rescored": 0}
    if dry_run:
        return summary
    scorer = ReviewScorer(
        session_factory,
        model_service,
        lease_s=settings.scorer_lease_s,
        reject_delay_s=settings.scorer_reject_delay_s,
    )
    wanted = outdated if limit is None else min(limit, outdated)
    claimed_count = 0
    with tqdm(total=wanted, unit="review", desc="rescoring") as progress:
        while claimed_count < wanted:
            with session_factory() as session:
                batch = claims.claim_outdated(
                    session=session,
                    served_model=served_model,
                    scored_before=began_at,
                    limit=min(batch_size, wanted - claimed_count),
                    lease_s=settings.scorer_lease_s,
                )
            if not batch:
                held = count_outdated(session_factory, served_model, began_at, claimed_only=True)
                if not held:
                    break
                progress.set_postfix_str(f"{held} held by other workers")
                await asyncio.sleep(poll_s)
                continue
            claimed_count += len(batch)
            summary["rescored"] += len(await scorer.score(batch))
            progress.update(len(batch))
    summary["outdated_after"] = count_outdated(session_factory, served_model, began_at)
    summary["seconds"] = round(time.monotonic() - started, 2)
    return summary


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--batch-size", type=positive_int, default=64, help="texts per model call")
    parser.add_argument("--limit", type=positive_int, help="rescore at most this many reviews")
    parser.add_argument("--dry-run", action="store_true", help="only count outdated reviews")
    parser.add_argument("--output", type=Path, help="also write the summary JSON here")
    args = parser.parse_args(argv)
    logging.basicConfig(format="%(levelname)s %(name)s: %(message)s", level=logging.INFO)
    # One line per HTTP call would drown the progress bar.
    logging.getLogger("httpx").setLevel(logging.WARNING)

    engine = create_db_engine(settings)
    model_service = ModelServiceClient.from_settings(settings)

    async def run() -> dict:
        try:
            return await rescore(
                create_session_factory(engine),
                model_service,
                batch_size=args.batch_size,
                limit=args.limit,
                dry_run=args.dry_run,
            )
        finally:
            await model_service.aclose()

    try:
        summary = asyncio.run(run())
    except ModelServiceError as error:
        log.error("%s; run again to resume", error)
        return 1
    finally:
        engine.dispose()
    text = json.dumps(summary, ensure_ascii=False, indent=2)
    print(text)
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
