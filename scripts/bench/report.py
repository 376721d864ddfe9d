"""The benchmark's targets, README tables and charts, all computed from one results object."""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence
from pathlib import Path

# Designs in the served section: results key → name in tables and charts.
DESIGNS = {
    "batching": "model service, adaptive batching",
    "no_batching": "model service, batching off",
    "baseline": "per-request pipeline (FastAPI)",
}
P99_BUDGET_MS = 250.0


def point_at(points: Sequence[dict], concurrency: int) -> dict:
    for point in points:
        if point["concurrency"] == concurrency:
            return point
    raise KeyError(f"no point at concurrency {concurrency}")


def ratio(numerator: float, denominator: float) -> float:
    """numerator / denominator, infinite for a zero denominator (nothing got through)."""
    return numerator / denominator if denominator else math.inf


def _target(key: str, text: str, value: float, needed: float, passed: bool, detail: str) -> dict:
    # Three decimals, rounded once: a ratio just under its line shows as under it (1.497, not
    # 1.50), and the log, the JSON and the README show the same figure.
    value = round(value, 3)
    return {
        "key": key,
        "target": text,
        "value": value,
        "needed": needed,
        "passed": bool(passed),
        "summary": f"{text}: {value:g} (needs {needed:g}); {detail}",
        "detail": detail,
    }


def evaluate_targets(results: dict) -> list[dict]:
    """The issue's ratios from this run's figures, each with pass or miss."""
    served = results["served"]
    on64 = point_at(served["batching"], 64)
    off64 = point_at(served["no_batching"], 64)
    on32 = point_at(served["batching"], 32)
    ceiling = {p["batch"]: p for p in results["in_process"]["points"]}
    gateway = served["gateway"]
    return [
        batching_gain_target(on64, off64, ceiling[64], ceiling[1]),
        _ratio_target(
            "served_vs_ceiling",
            "served at concurrency 64 ≥ 50% of in-process batch 64",
            on64["texts_per_s"],
            ceiling[64]["texts_per_s"],
            0.5,
            "texts/s",
        ),
        _ratio_target(
            "gateway_vs_service",
            "gateway POST /reviews/ ≥ 85% of the model service at concurrency 32",
            gateway["scored_per_s"],
            on32["texts_per_s"],
            0.85,
            ("scored reviews/s", "texts/s"),
        ),
        _int8_target(results["int8_vs_fp32"]),
        *([shadow_target(gateway, served["gateway_shadow"])] if "gateway_shadow" in served else []),
    ]


def shadow_target(off: dict, on: dict) -> dict:
    """Writes with a candidate in shadow (the same bundle, sharing the cores) against without."""
    value = ratio(on["scored_per_s"], off["scored_per_s"])
    detail = (
        f"{on['scored_per_s']:.0f} vs {off['scored_per_s']:.0f} scored reviews/s, p99 "
        f"{on['latency_ms']['p99']:.0f} vs {off['latency_ms']['p99']:.0f} ms, "
        f"{on.get('shadow_predictions', 0)} candidate predictions stored"
    )
    text = "gateway writes at concurrency 32 with the shadow on ≥ 0.8× off"
    return _target("shadow_vs_off", text, value, 0.8, value >= 0.8, detail)


def batching_gain_target(on64: dict, off64: dict, batch64: dict, batch1: dict) -> dict:
    """How much of the gain batching offers in process the service gets over HTTP.

    Served gain: batching on ÷ off at concurrency 64; its bound: in-process batch 64 ÷ batch 1.
    """
    served_gain = ratio(on64["texts_per_s"], off64["texts_per_s"])
    bound = ratio(batch64["texts_per_s"], batch1["texts_per_s"])
    value = ratio(served_gain, bound)
    detail = (
        f"served {served_gain:.2f}× ({on64['texts_per_s']:.0f} vs {off64['texts_per_s']:.0f} "
        f"texts/s) of an in-process {bound:.2f}× ({batch64['texts_per_s']:.0f} vs "
        f"{batch1['texts_per_s']:.0f} texts/s)"
    )
    text = "batching gain vs its bound (served on ÷ off at 64, over in-process batch 64 ÷ 1)"
    return _target("batching_gain_vs_bound", text, value, 0.9, value >= 0.9, detail)


def evaluate_peer_targets(
    designs: dict, ours: str, concurrency: int = 64, not_peers: Collection[str] = ()
) -> list[dict]:
    """Ahead of every peer: ours ≥ 1.0× the best measured peer's texts/s, p99 no worse.

    `designs` maps a key to its `points` (None for a peer that did not run); `not_peers` are
    designs of ours (baselines), not peers. No target without a peer measured at `concurrency`.
    """
    mine = point_at(designs[ours]["points"], concurrency)
    measured = {
        key: point_at(design["points"], concurrency)
        for key, design in designs.items()
        if key != ours and key not in not_peers and design.get("points")
    }
    if not measured:
        return []
    best = max(measured, key=lambda key: measured[key]["texts_per_s"])
    theirs = measured[best]
    value = ratio(mine["texts_per_s"], theirs["texts_per_s"])
    p99, their_p99 = mine["latency_ms"]["p99"], theirs["latency_ms"]["p99"]
    detail = (
        f"{mine['texts_per_s']:.0f} vs {theirs['texts_per_s']:.0f} texts/s "
        f"({designs[best]['title']}), p99 {p99:.0f} vs {their_p99:.0f} ms"
    )
    text = f"ahead of every peer: ≥ 1.0× the best peer's texts/s at {concurrency}, p99 no worse"
    target = _target("ahead_of_peers", text, value, 1.0, value >= 1.0 and p99 <= their_p99, detail)
    return [target | {"best_peer": best}]


def _ratio_target(
    key: str,
    text: str,
    numerator: float,
    denominator: float,
    needed: float,
    units: str | tuple[str, str],
) -> dict:
    value = ratio(numerator, denominator)
    if isinstance(units, str):
        detail = f"{numerator:.0f} vs {denominator:.0f} {units}"
    else:
        detail = f"{numerator:.0f} {units[0]} vs {denominator:.0f} {units[1]}"
    return _target(key, text, value, needed, value >= needed, detail)


def _model_only_row(latency: dict) -> list[str]:
    """The ONNX run alone on the same token ids, when the run measured it."""
    if "int8_model_median_ms" not in latency:
        return []
    fp32, int8 = latency["fp32_model_median_ms"], latency["int8_model_median_ms"]
    return [
        _row(
            "of which the ONNX model alone (same token ids), median ms",
            f"{fp32:.2f}",
            f"{int8:.2f}",
            f"{fp32 / int8:.2f}× faster",
        )
    ]


def int8_figures(comparison: dict) -> dict:
    """Speed-up and accuracy drop (points) from this run, or from the card when FP32 was absent."""
    if "single_text_latency" in comparison:
        latency = comparison["single_text_latency"]
        accuracy = comparison["accuracy"]
        metric = accuracy["metric"]
        return {
            "from": "this run",
            "speedup": latency["fp32_median_ms"] / latency["int8_median_ms"],
            "drop_points": (accuracy[f"fp32_{metric}"] - accuracy[f"int8_{metric}"]) * 100,
            "metric": f"{metric} on {accuracy['data']} (n={accuracy['n']})",
        }
    card = comparison["card"]
    parity = card.get("parity") or {}
    return {
        "from": "the bundle's card (no FP32 model in this run)",
        "speedup": card["latency_ms"]["speedup"],
        "drop_points": parity["accuracy_drop"] * 100,
        "metric": f"{parity['accuracy_metric']} on the dev sample (n={parity['n']})",
    }


def _int8_target(comparison: dict) -> dict:
    figures = int8_figures(comparison)
    passed = figures["speedup"] >= 1.5 and figures["drop_points"] <= 0.5
    detail = (
        f"single-text speed-up {round(figures['speedup'], 3):g}×, accuracy drop "
        f"{figures['drop_points']:.2f} points ({figures['metric']}; from {figures['from']})"
    )
    text = "INT8 ≥ 1.5× FP32 single-text latency, ≤ 0.5 points accuracy loss"
    return _target("int8_vs_fp32", text, figures["speedup"], 1.5, passed, detail)


# ---------------------------------------------------------------- README


def _row(*cells: object) -> str:
    return "| " + " | ".join(str(cell) for cell in cells) + " |"


def _latency_cells(point: dict) -> list[str]:
    latency = point["latency_ms"]
    return [f"{latency[p]:.1f}" for p in ("p50", "p95", "p99")]


def load_table(points: Sequence[dict], unit: str = "texts/s") -> list[str]:
    lines = [
        _row("concurrency", unit, "requests/s", "p50 ms", "p95 ms", "p99 ms", "failed",
             "server CPU ms/request", "generator CPU", "server CPU", "other CPU"),
        _row(*["---"] * 11),
    ]  # fmt: skip
    for p in points:
        share = p["cpu_share"]
        lines.append(
            _row(
                p["concurrency"],
                f"{p['texts_per_s']:.0f}",
                f"{p['requests_per_s']:.0f}",
                *_latency_cells(p),
                p["failed"],
                f"{sum(p.get('cpu_ms_per_request', {}).values()):.2f}",
                f"{share['generator']:.0%}",
                f"{share['servers']:.0%}" if share["servers"] is not None else "–",
                f"{share['other']:.0%}" if share.get("other") is not None else "–",
            )
        )
    return lines


def generated_by(results: dict) -> str:
    """Which command made a generated page, when, at which commit, in how long."""
    dirty = ", uncommitted changes" if results["git"]["dirty"] else ""
    return (
        f"Generated by `{results['command']}` on {results['date']} (commit "
        f"`{results['git']['commit'][:10]}`{dirty}), in {results['seconds']:.0f} s"
    )


def quick_warning(results: dict) -> list[str]:
    if not results["quick"]:
        return []
    return ["**Quick smoke run: durations of 1–2 s, not representative.**", ""]


def render_readme(
    results: dict, charts: Sequence[str], findings: str | None = None, peers: str | None = None
) -> str:
    """docs/benchmarks/README.md: how to rerun, the machine, the targets, the tables, the charts."""
    m, served, bundle = results["machine"], results["served"], results["bundle"]
    passed = sum(t["passed"] for t in results["targets"])
    workers = served.get("workers", 1)
    lines = [
        "# Benchmarks",
        "",
        f"{generated_by(results)}. Every figure below comes from that one run; the raw "
        "numbers are in [results.json](results.json). Do not edit this file: rerun the benchmark.",
        "",
        *quick_warning(results),
    ]
    lines += [
        "## How to rerun",
        "",
        "```",
        "make bench                                   # default bundle → docs/benchmarks/",
        "python -m scripts.bench --bundle DIR --out /tmp/bench   # another bundle, elsewhere",
        "python -m scripts.bench --quick --out /tmp/bench        # smoke run, seconds per point",
        "```",
        "",
        "Nothing else may use the CPU meanwhile: each table's CPU columns are shares of the whole "
        "machine over the point, for the load generator, the servers (with their workers and, for "
        "the gateway, PostgreSQL) and everything else (`other`, which should be near 0). "
        "The load generator is Debian's `wrk` (one thread, "
        "closed loop, keep-alive) cycling through request bodies built from "
        f"{results['data']['texts']} test-split reviews (mean {results['data']['mean_chars']} "
        "characters), read at run time.",
        "",
        "## Machine and model",
        "",
        f"- CPU: {m['cpu_model']}, {m['cores_available']} cores available "
        f"({m['logical_cpus']} logical), {m['memory_gib']} GiB memory, Linux {m['kernel']}, "
        f"Python {m['python']}",
        f"- Bundle: `{bundle['tag']}` from `{bundle['path']}` (max {bundle['max_tokens']} "
        f"tokens, labels {', '.join(bundle['labels'])})",
        "- Versions: "
        + ", ".join(f"{k} {v}" for k, v in results["versions"].items() if v is not None),
        f"- Durations: {results['settings']['duration_s']:g} s per load point after "
        f"{results['settings']['warmup_s']:g} s of warm-up at the same concurrency; "
        f"{results['settings']['in_process_s']:g} s per in-process batch size",
        "",
        f"## Targets ({passed} of {len(results['targets'])} met)",
        "",
        _row("target", "measured", "needed", "result", "from"),
        _row("---", "---", "---", "---", "---"),
    ]
    for t in results["targets"]:
        lines.append(
            _row(t["target"], f"{t['value']:g}", f"{t['needed']:g}",
                 "**pass**" if t["passed"] else "**miss**", t["detail"])
        )  # fmt: skip
    lines += ["", *_ceiling_section(results["in_process"]), ""]
    lines += [
        '## 2. The per-request design: `pipeline("sentiment-analysis")` in a FastAPI endpoint',
        "",
        "transformers' pipeline over Optimum's ORTModelForSequenceClassification on the same INT8 "
        f"model (scripts/bench/baseline_app.py), one text per call, uvicorn with {workers} worker "
        "process(es), the cores shared among them, like the model service below.",
        "",
        *load_table(served["baseline"]),
        "",
        "## 3. The model service (`bentoml serve`)",
        "",
        f"`MODEL_SERVICE_WORKERS={workers}`: one worker process per core, each with "
        "cores ÷ workers onnxruntime threads.",
        "",
        "One text per request, adaptive batching on (the default):",
        "",
        *load_table(served["batching"]),
        "",
        "One text per request, batching off (`MODEL_SERVICE_BATCHING=false`):",
        "",
        *load_table(served["no_batching"]),
        "",
        f"Requests carrying lists of {served['lists'][0]['texts_per_request']} texts "
        "(batching on):",
        "",
        *load_table(served["lists"]),
        "",
        *_gateway_section(served),
        *_int8_section(results["int8_vs_fp32"]),
        "## Charts",
        "",
        *(f"![{name}]({name})" for name in charts),
        "",
    ]
    if peers:
        lines += [
            "## Against other serving frameworks",
            "",
            f"Ray Serve, Mosec, LitServe and PyTriton on the same model and load, from their own "
            f"run (`make bench-peers`): [{peers}]({peers}).",
            "",
        ]
    if findings:
        lines += [
            "## What the figures say",
            "",
            f"Where the time goes, and what was changed in the design: [{findings}]({findings}).",
            "",
        ]
    return "\n".join(lines)


def _ceiling_section(in_process: dict) -> list[str]:
    layouts = in_process["layouts"]
    names = [f"{x['processes']} process(es) × {x['intra_op_threads']} thread(s)" for x in layouts]
    lines = [
        "## 1. Ceiling: the inference module in process",
        "",
        "`SentimentModel.predict` on consecutive batches of review texts, no HTTP, in each layout "
        "of the cores (processes run side by side; texts/s summed). The ceiling is the better "
        "layout.",
        "",
        _row("batch", "ceiling texts/s", *(f"{name}: texts/s" for name in names),
             "ms per batch (ceiling)"),
        _row(*["---"] * (3 + len(names))),
    ]  # fmt: skip
    for index, best in enumerate(in_process["points"]):
        per_layout = [f"{x['points'][index]['texts_per_s']:.0f}" for x in layouts]
        lines.append(
            _row(best["batch"], f"{best['texts_per_s']:.0f}", *per_layout,
                 f"{best['ms_per_batch']:.2f}")
        )  # fmt: skip
    return lines


def _gateway_section(served: dict) -> list[str]:
    gateway = served["gateway"]
    statuses = ", ".join(f"{k} {v}" for k, v in sorted(gateway["reviews_by_status"].items()))
    return [
        "## 4. The gateway: `POST /reviews/` end to end on PostgreSQL",
        "",
        "Each request stores the review, has the model service score it, and stores the score "
        "(background scorer off, so a review counts as scored only if its own request scored it). "
        f"Reviews of at least 5 characters (mean {gateway['mean_chars']}).",
        "",
        *load_table([gateway], "reviews/s"),
        "",
        f"Measured reviews by status: {statuses}; scored reviews/s: "
        f"{gateway['scored_per_s']:.0f}. CPU milliseconds per review: "
        + ", ".join(f"{k} {v:.2f}" for k, v in gateway.get("cpu_ms_per_request", {}).items())
        + ".",
        "",
        *_shadow_lines(served.get("gateway_shadow")),
    ]


def _shadow_lines(shadow: dict | None) -> list[str]:
    if shadow is None:
        return []
    return [
        "The same load with a candidate in shadow (a second model service with the same bundle, on "
        "the same cores): every scored text is also sent to it off the request path and its "
        f"predictions stored apart ({shadow.get('shadow_predictions', 0)} during the point).",
        "",
        *load_table([shadow], "reviews/s"),
        "",
    ]


def _int8_section(comparison: dict) -> list[str]:
    lines = ["## 5. INT8 vs FP32", "", f"FP32 model: {comparison['fp32_from']}.", ""]
    if "single_text_latency" not in comparison:
        card = comparison["card"]
        lines += [
            "Only the figures the bundle's card recorded at build time are available:",
            "",
            "```",
            f"size_bytes: {card['size_bytes']}",
            f"latency_ms: {card['latency_ms']}",
            "```",
            "",
        ]
        return lines
    latency, size = comparison["single_text_latency"], comparison["size_bytes"]
    throughput, accuracy = comparison["batch64"], comparison["accuracy"]
    lines += [
        _row("", "FP32", "INT8", "INT8 / FP32"),
        _row("---", "---", "---", "---"),
        _row(
            f"single-text latency, median ms ({latency['threads']} thread, "
            f"{latency['texts']} texts × {latency.get('rounds', 1)} rounds)",
            f"{latency['fp32_median_ms']:.2f}",
            f"{latency['int8_median_ms']:.2f}",
            f"{latency['fp32_median_ms'] / latency['int8_median_ms']:.2f}× faster",
        ),
        _row(
            "single-text latency, p90 ms",
            f"{latency['fp32_p90_ms']:.2f}",
            f"{latency['int8_p90_ms']:.2f}",
            "",
        ),
        *_model_only_row(latency),
        _row(
            "batch-64 throughput, texts/s",
            f"{throughput['fp32']['texts_per_s']:.0f}",
            f"{throughput['int8']['texts_per_s']:.0f}",
            f"{ratio(throughput['int8']['texts_per_s'], throughput['fp32']['texts_per_s']):.2f}×",
        ),
        _row(
            "model.onnx, MB",
            f"{size['fp32'] / 1e6:.1f}",
            f"{size['int8'] / 1e6:.1f}",
            f"{size['int8'] / size['fp32']:.2f}",
        ),
    ]
    for name in ("accuracy", "binary_accuracy", "macro_f1"):
        fp32, int8 = accuracy[f"fp32_{name}"], accuracy[f"int8_{name}"]
        lines.append(
            _row(f"{name} on {accuracy['data']} (n={accuracy['n']})", f"{fp32:.4f}",
                 f"{int8:.4f}", f"{(int8 - fp32) * 100:+.2f} points")
        )  # fmt: skip
    lines += ["", f"Label agreement INT8 vs FP32: {accuracy['agreement']:.2%}.", ""]
    return lines


# ---------------------------------------------------------------- charts


def plot_charts(results: dict, out: Path) -> list[Path]:
    """throughput.png (texts/s vs concurrency per design) and latency.png (p50/p95/p99)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    served = results["served"]
    ceiling = next(p for p in results["in_process"]["points"] if p["batch"] == 64)
    levels = sorted({p["concurrency"] for key in DESIGNS for p in served[key]})

    figure, axis = plt.subplots(figsize=(8, 5), dpi=120)
    for key, name in DESIGNS.items():
        points = served[key]
        axis.plot([p["concurrency"] for p in points], [p["texts_per_s"] for p in points],
                  marker="o", label=name)  # fmt: skip
    lists = served["lists"]
    axis.plot(
        [p["concurrency"] for p in lists],
        [p["texts_per_s"] for p in lists],
        marker="s",
        linestyle=":",
        label=f"model service, lists of {lists[0]['texts_per_request']} texts",
    )
    gateway = served["gateway"]
    axis.plot([gateway["concurrency"]], [gateway["scored_per_s"]], marker="*", markersize=14,
              linestyle="none", label="gateway POST /reviews/ (reviews/s)")  # fmt: skip
    axis.axhline(ceiling["texts_per_s"], color="grey", linestyle="--",
                 label="in-process ceiling, batch 64")  # fmt: skip
    axis.set_xscale("log", base=2)
    axis.set_xticks(levels, [str(level) for level in levels])
    axis.set_xlabel("concurrent connections")
    axis.set_ylabel("texts per second")
    axis.set_ylim(bottom=0)
    axis.set_title(f"Throughput vs concurrency ({results['bundle']['tag']})")
    axis.grid(alpha=0.3)
    axis.legend(fontsize=8)
    figure.tight_layout()
    throughput = out / "throughput.png"
    figure.savefig(throughput)
    plt.close(figure)

    figure, axes = plt.subplots(1, 3, figsize=(12, 4.2), dpi=120, sharey=True)
    for axis, percentile in zip(axes, ("p50", "p95", "p99"), strict=True):
        for key, name in DESIGNS.items():
            points = served[key]
            latencies = [p["latency_ms"][percentile] for p in points]
            axis.plot([p["concurrency"] for p in points], latencies, marker="o", label=name)
        axis.plot([gateway["concurrency"]], [gateway["latency_ms"][percentile]], marker="*",
                  markersize=12, linestyle="none", label="gateway POST /reviews/")  # fmt: skip
        if percentile == "p99":
            axis.axhline(P99_BUDGET_MS, color="red", linestyle="--", label="p99 budget 250 ms")
        axis.set_xscale("log", base=2)
        axis.set_yscale("log")
        axis.set_xticks(levels, [str(level) for level in levels])
        axis.set_xlabel("concurrent connections")
        axis.set_title(f"{percentile} latency")
        axis.grid(alpha=0.3, which="both")
    axes[0].set_ylabel("milliseconds")
    axes[-1].legend(fontsize=7)
    figure.tight_layout()
    latency = out / "latency.png"
    figure.savefig(latency)
    plt.close(figure)
    return [throughput, latency]
