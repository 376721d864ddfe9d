"""The benchmark's targets, README and charts, from a synthetic results object."""

import math
from pathlib import Path

import pytest

from scripts.bench.report import (
    evaluate_peer_targets,
    evaluate_targets,
    plot_charts,
    ratio,
    render_readme,
)

LEVELS = (1, 8, 32, 64, 128)


def _point(concurrency: int, texts_per_s: float, p99: float = 100.0, texts: int = 1) -> dict:
    return {
        "concurrency": concurrency,
        "texts_per_request": texts,
        "requests": 1000,
        "ok": 1000,
        "failed": 0,
        "seconds": 10.0,
        "requests_per_s": texts_per_s / texts,
        "texts_per_s": texts_per_s,
        "latency_ms": {"p50": p99 / 3, "p95": p99 / 1.5, "p99": p99},
        "cpu_share": {"generator": 0.02, "servers": 0.9, "machine": 0.95, "other": 0.03},
        "cpu_ms_per_request": {"model service": 1.5},
    }


# In process, batch b runs this share of batch 64's texts/s: batching's bound is 4×.
BATCH_SHARE = {1: 0.25, 8: 0.5, 32: 0.8, 64: 1.0}


def _in_process(ceiling64: float) -> dict:
    def points(best: float) -> list[dict]:
        return [
            {"batch": b, "texts_per_s": best * share, "ms_per_batch": 1.0}
            for b, share in BATCH_SHARE.items()
        ]

    layouts = [
        {"processes": 2, "intra_op_threads": 1, "points": points(ceiling64)},
        {"processes": 1, "intra_op_threads": 2, "points": points(ceiling64 / 2)},
    ]
    return {"layouts": layouts, "points": layouts[0]["points"]}


def _results(
    *,
    on64: float = 1200.0,
    on64_p99: float = 200.0,
    off64: float = 300.0,
    baseline64: float = 200.0,
    ceiling64: float = 2000.0,
    on32: float = 1000.0,
    gateway_scored: float = 900.0,
) -> dict:
    batching = [_point(c, on64 if c == 64 else on32, on64_p99 if c == 64 else 50) for c in LEVELS]
    return {
        "command": "make bench",
        "date": "2026-11-22T01:30:00+00:00",
        "quick": False,
        "seconds": 600.0,
        "git": {"commit": "0123456789abcdef", "dirty": False},
        "machine": {
            "cpu_model": "Test CPU",
            "cores_available": 2,
            "logical_cpus": 2,
            "memory_gib": 16.0,
            "kernel": "6.1",
            "python": "3.11.2",
        },
        "versions": {"bentoml": "1.4.39", "wrk": "wrk 4.1.0"},
        "bundle": {
            "tag": "korean-sentiment:20261122-abcdef",
            "path": "models/korean-sentiment",
            "max_tokens": 64,
            "labels": ["negative", "neutral", "positive"],
        },
        "settings": {"duration_s": 12.0, "warmup_s": 3.0, "in_process_s": 5.0},
        "data": {"texts": 2000, "mean_chars": 35.2},
        "in_process": _in_process(ceiling64),
        "served": {
            "batching": batching,
            "no_batching": [_point(c, off64, 400) for c in LEVELS],
            "baseline": [_point(c, baseline64, 500) for c in (1, 64)],
            "lists": [_point(c, 1500, 300, texts=32) for c in (1, 8)],
            "gateway": _point(32, gateway_scored, 150)
            | {
                "scored_per_s": gateway_scored,
                "reviews_by_status": {"scored": 7000},
                "mean_chars": 40.0,
            },
        },
        "int8_vs_fp32": {
            "fp32_from": "Optimum ONNX export of the checkpoint checkpoints/x",
            "card": {},
            "size_bytes": {"fp32": 16_000_000, "int8": 4_000_000},
            "single_text_latency": {
                "fp32_median_ms": 3.0,
                "fp32_p90_ms": 4.0,
                "int8_median_ms": 1.5,
                "int8_p90_ms": 2.0,
                "threads": 1,
                "texts": 300,
            },
            "batch64": {"fp32": {"texts_per_s": 800.0}, "int8": {"texts_per_s": 2000.0}},
            "accuracy": {
                "data": "test.tsv.gz",
                "n": 32261,
                "metric": "accuracy",
                "agreement": 0.99,
                "fp32_accuracy": 0.700,
                "int8_accuracy": 0.697,
                "fp32_binary_accuracy": 0.86,
                "int8_binary_accuracy": 0.86,
                "fp32_macro_f1": 0.65,
                "int8_macro_f1": 0.649,
            },
        },
    }


def _by_key(results: dict) -> dict[str, dict]:
    return {target["key"]: target for target in evaluate_targets(results)}


def test_all_four_targets_pass_on_figures_that_meet_them() -> None:
    targets = _by_key(_results())
    assert len(targets) == 4
    assert all(t["passed"] for t in targets.values()), [t["summary"] for t in targets.values()]
    # Served 4× (1200 vs 300 texts/s) of the 4× batch 64 gains over batch 1 in process.
    assert targets["batching_gain_vs_bound"]["value"] == 1.0
    assert targets["served_vs_ceiling"]["value"] == 0.6
    assert targets["gateway_vs_service"]["value"] == 0.9
    assert targets["int8_vs_fp32"]["value"] == 2.0


@pytest.mark.parametrize(
    ("changes", "missed"),
    [
        ({"off64": 340.0}, "batching_gain_vs_bound"),  # served 3.53× of a 4× bound: 0.882
        ({"ceiling64": 2500.0}, "served_vs_ceiling"),  # 48%
        ({"gateway_scored": 840.0}, "gateway_vs_service"),  # 84% of the service at 32
    ],
)
def test_each_target_misses_just_below_its_threshold(changes: dict, missed: str) -> None:
    targets = _by_key(_results(**changes))
    assert not targets[missed]["passed"]
    assert all(t["passed"] for key, t in targets.items() if key != missed)


def test_batching_gain_is_judged_against_what_batching_gains_in_process() -> None:
    # The same served gain (4×) meets a 4× bound and misses a 5× one (0.8).
    results = _results()
    results["in_process"]["points"][0]["texts_per_s"] = 2000.0 / 5
    target = _by_key(results)["batching_gain_vs_bound"]
    assert target["value"] == 0.8
    assert not target["passed"]
    assert "served 4.00× (1200 vs 300 texts/s) of an in-process 5.00×" in target["detail"]


def test_int8_target_misses_on_accuracy_loss_even_when_fast() -> None:
    results = _results()
    results["int8_vs_fp32"]["accuracy"]["int8_accuracy"] = 0.694  # 0.6 points below FP32
    target = _by_key(results)["int8_vs_fp32"]
    assert not target["passed"]
    assert "accuracy drop 0.60 points" in target["detail"]


def test_a_ratio_just_under_its_line_is_shown_under_it() -> None:
    results = _results()
    latency = results["int8_vs_fp32"]["single_text_latency"]
    latency["fp32_median_ms"], latency["int8_median_ms"] = 1.12, 0.749  # 1.4953
    target = _by_key(results)["int8_vs_fp32"]
    assert not target["passed"]
    assert target["value"] == 1.495
    assert "1.495 (needs 1.5)" in target["summary"]


def test_int8_target_falls_back_to_the_card_without_an_fp32_model() -> None:
    results = _results()
    results["int8_vs_fp32"] = {
        "fp32_from": "no FP32 model",
        "card": {
            "latency_ms": {"speedup": 1.4},
            "parity": {"accuracy_drop": 0.001, "accuracy_metric": "accuracy", "n": 3000},
            "size_bytes": {"fp32": 1, "int8": 1},
        },
    }
    target = _by_key(results)["int8_vs_fp32"]
    assert target["value"] == 1.4
    assert not target["passed"]
    assert "card" in target["detail"]


def test_ratio_over_nothing_is_infinite() -> None:
    assert ratio(5.0, 0.0) == math.inf
    assert ratio(6.0, 3.0) == 2.0


def test_readme_lists_every_target_with_its_result_and_the_rerun_command() -> None:
    results = _results(gateway_scored=800.0)
    results["targets"] = evaluate_targets(results)
    readme = render_readme(results, ["throughput.png", "latency.png"])
    assert "## Targets (3 of 4 met)" in readme
    assert readme.count("**pass**") == 3
    assert readme.count("**miss**") == 1
    assert "make bench" in readme
    assert "![throughput.png](throughput.png)" in readme
    # The ceiling is the better core layout, shown beside each layout's own figure.
    assert "| 64 | 2000 | 2000 | 1000 | 1.00 |" in readme
    # The served tables hold every concurrency level measured.
    for level in LEVELS:
        assert f"| {level} | " in readme


def test_int8_table_shows_the_model_alone_when_the_run_timed_it() -> None:
    results = _results()
    latency = results["int8_vs_fp32"]["single_text_latency"]
    results["targets"] = evaluate_targets(results)
    row = (
        "| of which the ONNX model alone (same token ids), median ms | 2.40 | 1.20 | 2.00× faster |"
    )
    assert row not in render_readme(results, [])
    latency |= {"fp32_model_median_ms": 2.4, "int8_model_median_ms": 1.2}
    readme = render_readme(results, [])
    assert row in readme
    # The target stays judged on the whole predict, tokenizing included.
    assert evaluate_targets(results) == results["targets"]


def test_charts_are_written_as_png(tmp_path: Path) -> None:
    charts = plot_charts(_results(), tmp_path)
    assert [c.name for c in charts] == ["throughput.png", "latency.png"]
    for chart in charts:
        assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def _design(title: str, texts_per_s: float | None, p99: float = 100.0) -> dict:
    points = None if texts_per_s is None else [_point(64, texts_per_s, p99)]
    return {"title": title, "points": points, "reason": None if points else "did not start"}


def test_ahead_of_peers_compares_with_the_fastest_peer_that_ran() -> None:
    designs = {
        "model_service": _design("ours", 1500.0, p99=150.0),
        "mosec": _design("Mosec", 1400.0, p99=160.0),
        "ray_serve": _design("Ray Serve", 700.0, p99=90.0),
        "pytriton": _design("PyTriton", None),
    }
    [target] = evaluate_peer_targets(designs, "model_service")
    assert target["key"] == "ahead_of_peers"
    assert target["best_peer"] == "mosec"
    assert target["value"] == round(1500 / 1400, 3)
    assert target["passed"]
    assert "1500 vs 1400 texts/s (Mosec), p99 150 vs 160 ms" in target["detail"]


@pytest.mark.parametrize(
    ("mosec", "why"),
    [
        (_design("Mosec", 1600.0, p99=160.0), "slower"),
        (_design("Mosec", 1400.0, p99=140.0), "p99 worse than the best peer's"),
    ],
)
def test_ahead_of_peers_misses_when_slower_or_with_a_worse_tail(mosec: dict, why: str) -> None:
    designs = {"model_service": _design("ours", 1500.0, p99=150.0), "mosec": mosec}
    [target] = evaluate_peer_targets(designs, "model_service")
    assert not target["passed"], why


def test_ahead_of_peers_has_no_verdict_without_a_measured_peer() -> None:
    designs = {"model_service": _design("ours", 1500.0), "pytriton": _design("PyTriton", None)}
    assert evaluate_peer_targets(designs, "model_service") == []


def test_readme_links_the_peers_page_when_there_is_one() -> None:
    results = _results()
    results["targets"] = evaluate_targets(results)
    assert "peers.md" not in render_readme(results, [])
    assert "[peers.md](peers.md)" in render_readme(results, [], peers="peers.md")


def _with_shadow(results: dict, scored_per_s: float, p99: float = 180.0) -> dict:
    results["served"]["gateway_shadow"] = _point(32, scored_per_s, p99) | {
        "scored_per_s": scored_per_s,
        "reviews_by_status": {"scored": 6000},
        "mean_chars": 40.0,
        "shadow_predictions": 5900,
    }
    return results


@pytest.mark.parametrize(("shadow_scored", "passed"), [(720.0, True), (710.0, False)])
def test_the_shadow_point_is_a_target_of_its_own_against_writes_without_it(
    shadow_scored: float, passed: bool
) -> None:
    targets = _by_key(_with_shadow(_results(gateway_scored=900.0), shadow_scored))
    shadow = targets["shadow_vs_off"]
    assert shadow["value"] == round(shadow_scored / 900.0, 3)
    assert shadow["passed"] is passed
    assert "p99 180 vs 150 ms" in shadow["detail"]
    assert "5900 candidate predictions stored" in shadow["detail"]


def test_the_readme_shows_the_shadow_point_beside_the_gateway() -> None:
    results = _with_shadow(_results(), 800.0)
    results["targets"] = evaluate_targets(results)
    readme = render_readme(results, ["throughput.png"])
    assert "## Targets (5 of 5 met)" in readme
    gateway_section = readme[readme.index("## 4. The gateway") :]
    assert "with a candidate in shadow" in gateway_section
    assert "| 32 | 800 | " in gateway_section


def test_a_baseline_of_ours_is_not_a_peer() -> None:
    designs = {
        "model_service": _design("ours", 1500.0, p99=150.0),
        "model_service_bentoml_path": _design("ours, BentoML's path", 1700.0, p99=90.0),
        "mosec": _design("Mosec", 1400.0, p99=160.0),
    }
    [target] = evaluate_peer_targets(
        designs, "model_service", not_peers={"model_service_bentoml_path"}
    )
    assert target["best_peer"] == "mosec"
