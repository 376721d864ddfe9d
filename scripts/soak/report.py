"""The soak's results as JSON, a chart of latency and memory over time, and tables in a document."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from scripts.soak.account import latency
from scripts.soak.traffic import Request

BEGIN = "<!-- soak:begin (written by `make soak`) -->"
END = "<!-- soak:end -->"
BIN_S = 15.0


def latency_series(requests: list[Request]) -> list[dict[str, float]]:
    """Per BIN_S window: p50 and p99 of the answered requests, and how many got no answer."""
    bins: dict[int, list[Request]] = defaultdict(list)
    for request in requests:
        bins[int(request.t_s // BIN_S)].append(request)
    series = []
    for index, window in sorted(bins.items()):
        figures = latency(window)
        series.append(
            {
                "t_s": index * BIN_S,
                "p50_ms": figures.get("p50_ms", float("nan")),
                "p99_ms": figures.get("p99_ms", float("nan")),
                "n": len(window),
                "no_answer": figures["no_answer"],
            }
        )
    return series


def chart(results: dict[str, Any], path: Path) -> Path:
    series = results["latency_series"]
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(11, 7), sharex=True)
    minutes = [point["t_s"] / 60 for point in series]
    top.plot(minutes, [p["p99_ms"] for p in series], label="p99", color="tab:red")
    top.plot(minutes, [p["p50_ms"] for p in series], label="p50", color="tab:blue")
    top.set_yscale("log")
    top.set_ylabel(f"latency per {BIN_S:.0f} s, ms")
    for part, color in (
        ("model-service", "tab:purple"),
        ("gateway", "tab:orange"),
        ("postgres", "tab:green"),
    ):
        lives = defaultdict(list)
        for sample in results["memory_samples"]:
            if sample["part"] == part:
                lives[sample["incarnation"]].append(sample)
        for number, life in sorted(lives.items()):
            minutes_alive = [s["t_s"] / 60 for s in life]
            bottom.plot(
                minutes_alive,
                [s["mib"] for s in life],
                color=color,
                label=part if number == 0 else None,
            )
            if any(s["shared_mib"] for s in life):
                bottom.plot(
                    minutes_alive,
                    [s["shared_mib"] for s in life],
                    color=color,
                    linestyle="--",
                    label=f"{part} shared" if number == 0 else None,
                )
    bottom.set_ylabel("private memory (PSS), MiB; dashed: shared")
    bottom.set_xlabel("minutes")
    for axis in (top, bottom):
        for fault in results["faults"]:
            axis.axvspan(
                fault["started_s"] / 60, fault["recovered_s"] / 60, color="grey", alpha=0.3
            )
        axis.legend(loc="upper right", fontsize=8)
        axis.grid(alpha=0.3)
    for fault in results["faults"]:
        top.annotate(
            fault["part"],
            (fault["started_s"] / 60, top.get_ylim()[1]),
            fontsize=7,
            rotation=90,
            va="top",
            ha="right",
        )
    top.set_title("make soak: latency and memory over time (grey: a fault until its recovery)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _row(cells: list[Any]) -> str:
    return "| " + " | ".join(str(cell) for cell in cells) + " |"


def render(results: dict[str, Any]) -> str:
    run, store, between = results["run"], results["store"], results["between_faults"]
    lines = [
        BEGIN,
        "",
        f"Run at `{run['commit']}` on {run['date']}: {run['minutes']:.0f} minutes, "
        f"{run['users']} users at {run['rate_per_user']} requests/s each "
        f"({results['requests']} requests), a fault every {run['fault_every_s']:.0f} s, "
        f"{run['workers']} model-service workers, PostgreSQL. "
        f"Verdict: **{'passed' if results['verdict']['passed'] else 'FAILED'}**"
        + (
            f" ({', '.join(results['verdict']['failures'])})"
            if results["verdict"]["failures"]
            else ""
        )
        + ".",
        "",
        _row(["#", "at (min)", "fault", "how", "back after (s)"]),
        _row(["---"] * 5),
    ]
    for number, fault in enumerate(results["faults"], 1):
        lines.append(
            _row(
                [
                    number,
                    f"{fault['started_s'] / 60:.1f}",
                    fault["part"],
                    fault["how"],
                    f"{fault['recovered_s'] - fault['started_s']:.1f}",
                ]
            )
        )
    names = [
        "accepted",
        "deleted",
        "stored",
        "lost",
        "duplicated",
        "stale_edits",
        "resurrected",
        "stored_unacknowledged",
        "unscored",
    ]
    lines += [
        "",
        _row([name.replace("_", " ") for name in names] + ["writes given up"]),
        _row(["---"] * (len(names) + 1)),
        _row([store[name] for name in names] + [results["abandoned"]]),
        "",
    ]
    lines += [_row(["between faults", "requests", "p50 ms", "p99 ms"]), _row(["---"] * 4)]
    for group, figures in between.items():
        lines.append(
            _row(
                [group, figures.get("n", 0), figures.get("p50_ms", "–"), figures.get("p99_ms", "–")]
            )
        )
    lines += [
        "",
        f"Answers over the whole run: {results['statuses']}.",
        "",
        _row(
            [
                "process",
                "private memory after warm-up (MiB)",
                "at the end of that life (MiB)",
                "growth",
                "shared: touched after warm-up → at the end, of the segments' size (MiB)",
                "lives judged",
            ]
        ),
        _row(["---"] * 6),
    ]
    for part, g in results["memory_growth"].items():
        shared = (
            f"{g['shared_warm_mib']} → {g['shared_last_mib']} of {g['shared_size_last_mib']}"
            if g["shared_size_last_mib"]
            else "none"
        )
        growth = f"{g['growth']:+.1%}"
        lines.append(_row([part, g["warm_mib"], g["last_mib"], growth, shared, int(g["lives"])]))
    lines += ["", "![latency and memory over the soak](soak/soak.png)", "", END]
    return "\n".join(lines)


def update_document(doc: Path, results: dict[str, Any]) -> None:
    text = doc.read_text(encoding="utf-8")
    generated = render(results)
    if BEGIN in text and END in text:
        before, rest = text.split(BEGIN, 1)
        text = before + generated + rest.split(END, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + generated + "\n"
    doc.write_text(text, encoding="utf-8")


def write_json(results: dict[str, Any], path: Path) -> Path:
    path.write_text(json.dumps(results, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return path
