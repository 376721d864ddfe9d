"""The peers' page (docs/benchmarks/peers.md) and chart, from the peers' results object."""

from __future__ import annotations

from pathlib import Path

from scripts.bench.report import generated_by, load_table, point_at, quick_warning

CHART = "peers.png"


def _row(*cells: object) -> str:
    return "| " + " | ".join(str(cell) for cell in cells) + " |"


def _summary_table(results: dict) -> list[str]:
    """One row per design: texts/s at each concurrency, and the costs at the highest."""
    levels = results["settings"]["concurrency"]
    top = max(levels)
    lines = [
        _row("design", *(f"texts/s at {c}" for c in levels), f"p50 / p99 ms at {top}",
             f"failed at {top}", f"server CPU ms/request at {top}",
             f"generator CPU at {top}"),
        _row(*["---"] * (len(levels) + 5)),
    ]  # fmt: skip
    for design in results["designs"].values():
        if not design.get("points"):
            reason = design.get("reason") or "not run"
            lines.append(_row(design["title"], *["–"] * (len(levels) + 3), f"**{reason}**"))
            continue
        at_top = point_at(design["points"], top)
        latency = at_top["latency_ms"]
        lines.append(
            _row(
                design["title"],
                *(f"{point_at(design['points'], c)['texts_per_s']:.0f}" for c in levels),
                f"{latency['p50']:.1f} / {latency['p99']:.1f}",
                at_top["failed"],
                f"{sum(at_top['cpu_ms_per_request'].values()):.2f}",
                f"{at_top['cpu_share']['generator']:.0%}",
            )
        )
    return lines


def render_peers_readme(results: dict, chart: str) -> str:
    m, settings = results["machine"], results["settings"]
    lines = [
        "# The model service against the serving frameworks",
        "",
        f"{generated_by(results)}; raw figures in [peers.json](peers.json). Do not edit this "
        "file: rerun the benchmark.",
        "",
        *quick_warning(results),
    ]
    lines += [
        "Every design serves the same `SentimentModel` (model_service/inference.py) over the same "
        f"bundle, one text per request, on {m['cores_available']} cores ({m['cpu_model']}) with "
        f"{settings['workers']} worker processes and one onnxruntime thread each, max batch 64. "
        f"Load: `wrk` (one thread, closed loop) for {settings['duration_s']:g} s per point after "
        f"{settings['warmup_s']:g} s of warm-up, cycling through {results['data']['texts']} "
        "test-split reviews as JSON bodies. Each peer runs in its own virtual environment under "
        "`state/peers/` (made by the benchmark).",
        "",
    ]
    if results["targets"]:
        lines += [_row("target", "measured", "needed", "result", "from"),
                  _row("---", "---", "---", "---", "---")]  # fmt: skip
        for t in results["targets"]:
            verdict = "**pass**" if t["passed"] else "**miss**"
            lines.append(_row(t["target"], f"{t['value']:g}", f"{t['needed']:g}", verdict,
                              t["detail"]))  # fmt: skip
        lines.append("")
    lines += ["## Side by side", "", *_summary_table(results), "", f"![{chart}]({chart})", ""]
    lines += ["## Each design's layout and load points", ""]
    for design in results["designs"].values():
        lines += [f"### {design['title']}", "", design["layout"], ""]
        if design.get("requirements"):
            lines += ["Installed: " + ", ".join(f"`{r}`" for r in design["requirements"]), ""]
        if design.get("points"):
            lines += [*load_table(design["points"]), ""]
        else:
            lines += [f"Not measured: {design.get('reason')}", ""]
    return "\n".join(lines)


def plot_peers(results: dict, out: Path) -> Path:
    """peers.png: texts/s and p99 latency against concurrency, one line per design that ran."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    levels = results["settings"]["concurrency"]
    figure, (throughput, latency) = plt.subplots(1, 2, figsize=(12, 4.5), dpi=120)
    for design in results["designs"].values():
        points = design.get("points")
        if not points:
            continue
        x = [p["concurrency"] for p in points]
        throughput.plot(x, [p["texts_per_s"] for p in points], marker="o", label=design["title"])
        latency.plot(x, [p["latency_ms"]["p99"] for p in points], marker="o", label=design["title"])
    for axis in (throughput, latency):
        axis.set_xscale("log", base=2)
        axis.set_xticks(levels, [str(level) for level in levels])
        axis.set_xlabel("concurrent connections")
        axis.grid(alpha=0.3, which="both")
    throughput.set_ylabel("texts per second")
    throughput.set_ylim(bottom=0)
    throughput.set_title("Throughput, one text per request")
    latency.set_yscale("log")
    latency.set_ylabel("p99 milliseconds")
    latency.set_title("p99 latency")
    latency.legend(fontsize=7)
    figure.tight_layout()
    path = out / CHART
    figure.savefig(path)
    plt.close(figure)
    return path
