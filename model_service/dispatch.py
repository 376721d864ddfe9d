"""BentoML's adaptive batcher, minus the holds its stale history causes.

BentoML's dispatcher (bentoml/_internal/marshal/dispatcher.py, pinned 1.4.39) holds a request
that finds its worker idle while `queued * (newest's wait + 1 ms + per-request estimate)` is at
most 0.95 × W, W being the mean wait of the last 50 batches, refitted at most every 5 s. W counts
time spent queued behind a busy worker as well as these holds, so after a burst a lone request is
held for company that does not come, and its hold becomes the next W: the holds feed themselves
and fade only slowly. A lone request then waits several times its own run time for nothing
(measured in docs/benchmarks/FINDINGS.md, section 3).

Without the holds a batch is what queued while the worker ran the previous one, which is where
batches come from under load: batching under concurrency is unchanged. The fitted cost model
still drives the 503s of requests that cannot meet the latency budget.
"""

from bentoml._internal.marshal import dispatcher

_refit = dispatcher.Optimizer.trigger_refresh


def _refit_without_holds(optimizer: dispatcher.Optimizer) -> None:
    _refit(optimizer)
    optimizer.wait = 0.0  # the hold condition compares a positive figure with this: never holds


def stop_holding_lone_requests() -> None:
    """Patch BentoML's batching optimizer, in this process, before the service creates it."""
    dispatcher.Optimizer.trigger_refresh = _refit_without_holds  # type: ignore[method-assign]


def holds_lone_requests() -> bool:
    """Whether this process's dispatchers still hold lone requests (BentoML's behaviour)."""
    return dispatcher.Optimizer.trigger_refresh is not _refit_without_holds
