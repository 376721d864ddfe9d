"""The batching optimizer without holds: after a burst, a lone request is not held for company.

BentoML's optimizer is driven here as its dispatcher drives it (one `log_outbound` per batch, then
a refit); the served tests check that the service's workers run with the patch applied.
"""

import pytest
from bentoml._internal.marshal import dispatcher

from model_service import dispatch


def refit_after_a_burst(optimizer: dispatcher.Optimizer) -> None:
    """50 batches of 1-16 requests that each waited 100 ms behind a busy worker, then a refit."""
    for n in range(1, 51):
        size = n % 16 + 1
        optimizer.log_outbound(n=size, wait=0.100, duration=0.001 + 0.0005 * size)
    optimizer.trigger_refresh()


@pytest.fixture
def bentoml_refit(monkeypatch):
    """BentoML's own refit, restored after the test whatever this process patched before."""
    monkeypatch.setattr(dispatcher.Optimizer, "trigger_refresh", dispatch._refit)


def test_bentoml_alone_holds_lone_requests_for_the_wait_a_burst_left(bentoml_refit):
    optimizer = dispatcher.Optimizer(max_latency=1.0)

    refit_after_a_burst(optimizer)

    assert dispatch.holds_lone_requests()
    assert optimizer.wait == pytest.approx(0.100)  # what a lone request is then held against


def test_without_holds_the_wait_stays_zero_and_the_cost_model_is_still_fitted(bentoml_refit):
    dispatch.stop_holding_lone_requests()
    optimizer = dispatcher.Optimizer(max_latency=1.0)

    refit_after_a_burst(optimizer)

    assert not dispatch.holds_lone_requests()
    assert optimizer.wait == 0.0
    # The per-request and fixed costs still drive the 503s of requests past the latency budget.
    assert optimizer.o_a == pytest.approx(0.0005, rel=0.01)
    assert optimizer.o_b == pytest.approx(0.001, rel=0.01)
