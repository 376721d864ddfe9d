"""HTML fragments and chart tables the UI shows, built from the gateway's JSON.

Everything a person typed (titles, names, review text) goes through `escape`, so it is shown as
text and never read as markup. No Gradio here: the rendering is tested on its own.
"""

from __future__ import annotations

import html
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd

from ui.client import GatewayError
from ui.i18n import LABEL_EMOJI, LABELS, T, label_text
from ui.settings import settings

# gr.HTML fills its template with JavaScript-style `${...}` and Handlebars `{{...}}`: user text
# must not carry either, so braces and dollar signs become character references as well.
_TEMPLATE_CHARS = str.maketrans({"{": "&#123;", "}": "&#125;", "$": "&#36;"})
_CSS_URL_CHARS = str.maketrans(
    {'"': "%22", "'": "%27", "(": "%28", ")": "%29", "\\": "%5C", "<": "%3C", ">": "%3E"}
)


def escape(value: Any) -> str:
    """A value as inert HTML text."""
    return html.escape(str(value), quote=True).translate(_TEMPLATE_CHARS)


def notice(message: str, *, kind: str = "info") -> str:
    """A one-line message box; `kind` is info, ok or error. `message` is already safe HTML."""
    return f'<div class="notice notice-{kind}">{message}</div>'


def error_notice(error: GatewayError) -> str:
    if error.unreachable:
        return notice(escape(T["gateway_unreachable"]), kind="error")
    return notice(escape(T["gateway_error"].format(detail=error.detail)), kind="error")


def field_error(message: str | None) -> str:
    return f'<div class="field-error">⚠️ {escape(message)}</div>' if message else ""


def status_panel(health: dict[str, Any] | None, error: GatewayError | None = None) -> str:
    """Gateway, database and model status with the served model tag, from GET /health."""
    gateway_up = health is not None
    rows = [(T["status_gateway"], gateway_up)]
    if health is not None:
        rows.append((T["status_database"], health.get("database") == "ok"))
        rows.append((T["status_model"], health.get("model_service") == "ok"))
    items = "".join(
        f'<li><span class="dot {"up" if up else "down"}"></span>{escape(name)}: '
        f"<b>{escape(T['status_up'] if up else T['status_down'])}</b></li>"
        for name, up in rows
    )
    tag = (health or {}).get("model")
    if tag:
        items += f"<li>{escape(T['status_model_tag'])}: <code>{escape(tag)}</code></li>"
    if (health or {}).get("pending_reviews"):
        items += f"<li>{escape(T['pending_reviews'].format(count=health['pending_reviews']))}</li>"
    if error is not None and not error.unreachable:
        items += f"<li>{escape(error.detail)}</li>"
    return f'<div class="status-panel"><h3>{escape(T["status_heading"])}</h3><ul>{items}</ul></div>'


def movie_cards(
    movies: list[dict[str, Any]],
    *,
    searched: bool = False,
    ratings: dict[int, dict[str, Any]] | None = None,
) -> str:
    """The movie list: poster (where given), title, year, director and genre, and each movie's
    rating and review count where `ratings` (by movie id) has them."""
    if not movies:
        return notice(escape(T["no_movies_found" if searched else "no_movies"]))
    ratings = ratings or {}
    cards = "".join(_movie_card(m, ratings.get(m["id"])) for m in movies)
    return f'<div class="movie-grid">{cards}</div>'


def stars_text(stars: float | None) -> str:
    """A star rating as shown: "★ 8.4"; empty when there is none."""
    return f"★ {stars:.1f}" if stars is not None else ""


def _rating_line(rating: dict[str, Any] | None) -> str:
    if rating is None:
        return ""
    parts = [T["movie_review_count"].format(count=rating["review_count"])]
    if rating.get("average_score") is not None:
        parts.insert(0, T["movie_rating"].format(score=rating["average_score"]))
    if rating.get("average_stars") is not None:
        parts.insert(0, stars_text(rating["average_stars"]))
    return f'<div class="movie-rating">{escape(" · ".join(parts))}</div>'


def _movie_card(movie: dict[str, Any], rating: dict[str, Any] | None = None) -> str:
    poster_url = movie.get("poster_url") or ""
    if poster_url.startswith(("http://", "https://")):
        # A CSS background rather than <img>: a poster that fails to load leaves a plain tile.
        style = f"background-image:url(&quot;{_css_url(poster_url)}&quot;)"
        poster = f'<div class="poster" style="{style}"></div>'
    else:
        poster = f'<div class="poster poster-empty">{escape(T["no_poster"])}</div>'
    facts = [movie.get("release_date"), movie.get("director"), movie.get("genre")]
    facts_line = " · ".join(escape(fact) for fact in facts if fact)
    return (
        f'<div class="movie-card">{poster}<div class="movie-info">'
        f'<div class="movie-title">{escape(movie["title"])}</div>'
        f'<div class="movie-facts">{facts_line}</div>{_rating_line(rating)}</div></div>'
    )


def _css_url(url: str) -> str:
    """A URL safe inside url("...") in a style attribute: quotes, brackets, backslashes encoded."""
    return escape(url.translate(_CSS_URL_CHARS))


def movie_choice_label(movie: dict[str, Any]) -> str:
    """How a movie appears in a dropdown: "Title (2019)"."""
    year = (movie.get("release_date") or "")[:4]
    return f"{movie['title']} ({year})" if year else movie["title"]


def label_badge(label: str | None) -> str:
    if label not in LABEL_EMOJI:
        return f'<span class="badge badge-pending">◷ {escape(T["pending"])}</span>'
    return f'<span class="badge badge-{label}">{escape(label_text(label))}</span>'


def review_result(review: dict[str, Any]) -> str:
    """What the writer sees after submitting: label, confidence, probability bars, model tag."""
    heading = escape(T["review_number"].format(id=review["id"]))
    if review.get("status") != "scored":
        return (
            f'<div class="review-result pending"><div class="result-heading">{heading}</div>'
            f'<div class="result-label">{label_badge(None)}</div>'
            f'<p class="pending-note">{escape(T["pending_note"])}</p></div>'
        )
    label = review["sentiment_label"]
    confidence = review.get("sentiment_score") or 0.0
    return (
        f'<div class="review-result scored"><div class="result-heading">{heading}</div>'
        f'<div class="result-label">{label_badge(label)}</div>'
        f'<div class="result-confidence">{escape(T["confidence"])}: <b>{confidence:.1%}</b></div>'
        f"{_result_stars(review.get('stars'))}"
        f"{probability_bars(review.get('probabilities') or {})}"
        f'<div class="result-model">{escape(T["scored_by"])}: '
        f"<code>{escape(review.get('sentiment_model') or '')}</code></div></div>"
    )


def _result_stars(stars: float | None) -> str:
    if stars is None:
        return ""
    return (
        f'<div class="result-stars">{escape(T["predicted_stars"])}: '
        f"<b>{escape(stars_text(stars))}</b></div>"
    )


def probability_bars(probabilities: dict[str, float]) -> str:
    """One horizontal bar per label, positive first."""
    rows = "".join(
        f'<div class="prob-row"><span class="prob-name">{escape(label_text(label))}</span>'
        f'<span class="prob-track"><span class="prob-fill fill-{label}" '
        f'style="width:{100 * probabilities.get(label, 0.0):.1f}%"></span></span>'
        f'<span class="prob-value">{probabilities.get(label, 0.0):.1%}</span></div>'
        for label in LABELS
    )
    return f'<div class="prob-bars" title="{escape(T["probabilities"])}">{rows}</div>'


def review_cards(reviews: list[dict[str, Any]], movie_titles: dict[int, str]) -> str:
    """A page of reviews, newest first as the gateway returns them."""
    if not reviews:
        return notice(escape(T["no_reviews"]))
    return (
        '<div class="review-list">'
        + "".join(
            _review_card(review, movie_titles.get(review["movie_id"], "")) for review in reviews
        )
        + "</div>"
    )


def _review_card(review: dict[str, Any], movie_title: str) -> str:
    scored = review.get("status") == "scored"
    positivity = (
        f'<span class="positivity">{escape(T["positivity"])} {review["positivity"]:.0%}</span>'
        if scored and review.get("positivity") is not None
        else ""
    )
    stars = (
        f'<span class="stars" title="{escape(T["predicted_stars"])}">'
        f"{escape(stars_text(review['stars']))}</span>"
        if scored and review.get("stars") is not None
        else ""
    )
    return (
        f'<div class="review-card"><div class="review-head">'
        f"{label_badge(review.get('sentiment_label') if scored else None)}{positivity}{stars}"
        f'<span class="review-author">{escape(review.get("author") or "")}</span>'
        f'<span class="review-movie">{escape(movie_title)}</span>'
        f'<span class="review-time">{escape(_when(review.get("created_at")))}</span></div>'
        f'<div class="review-content">{escape(review["content"])}</div></div>'
    )


def account_status(user: dict[str, Any] | None) -> str:
    """Who is signed in in this browser tab, or that nobody is."""
    if user is None:
        return notice(escape(T["signed_out"]))
    role = T["admin_role"] if user.get("is_admin") else ""
    return notice(escape(T["signed_in_as"].format(name=user["display_name"]) + role), kind="ok")


def review_choice_label(review: dict[str, Any]) -> str:
    content = review["content"]
    return f"#{review['id']} {content[:30]}{'…' if len(content) > 30 else ''}"


def _when(timestamp: str | None) -> str:
    return local_time(timestamp).strftime("%Y-%m-%d %H:%M") if timestamp else ""


def local_time(timestamp: str) -> datetime:
    """A gateway timestamp (ISO 8601, UTC when it names no zone) in UI_TIMEZONE, zone dropped."""
    moment = datetime.fromisoformat(timestamp)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(ZoneInfo(settings.ui_timezone)).replace(tzinfo=None)


def statistics(rating: dict[str, Any]) -> str:
    """Average positivity, average stars, review count and label ratios of one movie, from its
    rating."""
    average = rating.get("average_score")
    average_text = f"{average:.0%}" if average is not None else "–"
    meter = (
        f'<div class="meter"><span style="width:{100 * average:.1f}%"></span></div>'
        if average is not None
        else ""
    )
    ratios = rating.get("ratios") or {}
    ratio = (
        " / ".join(f"{escape(label_text(label))} {ratios.get(label, 0.0):.0%}" for label in LABELS)
        if rating.get("scored_count")
        else escape(T["no_scored_reviews"])
    )
    scored = escape(T["scored_count"].format(count=rating.get("scored_count", 0)))
    average_stars = rating.get("average_stars")
    stars_note = (
        f'<div class="stat-note">{escape(T["stars_count"].format(count=rating["stars_count"]))}'
        "</div>"
        if average_stars is not None and rating.get("stars_count") is not None
        else ""
    )
    return (
        '<div class="stats">'
        f'<div class="stat"><div class="stat-name">{escape(T["average_positivity"])}</div>'
        f'<div class="stat-value" data-stat="average">{average_text}</div>{meter}</div>'
        f'<div class="stat"><div class="stat-name">{escape(T["average_stars"])}</div>'
        f'<div class="stat-value" data-stat="stars">{escape(stars_text(average_stars) or "–")}'
        f"</div>{stars_note}</div>"
        f'<div class="stat"><div class="stat-name">{escape(T["review_count"])}</div>'
        f'<div class="stat-value" data-stat="count">{int(rating.get("review_count", 0))}</div>'
        f'<div class="stat-note">{scored}</div></div>'
        f'<div class="stat wide"><div class="stat-name">{escape(T["label_ratio"])}</div>'
        f'<div class="stat-value small" data-stat="ratio">{ratio}</div></div></div>'
    )


def label_counts(rating: dict[str, Any]) -> dict[str, int]:
    """Scored reviews per label, from the rating's per-label counts."""
    counts = rating.get("counts") or {}
    return {label: int(counts.get(label, 0)) for label in LABELS}


def label_distribution(rating: dict[str, Any]) -> pd.DataFrame:
    """Rows of (label, count) for the bar chart, positive first."""
    counts = label_counts(rating)
    return pd.DataFrame(
        {
            T["label_axis"]: [label_text(label) for label in LABELS],
            T["count_axis"]: [counts[label] for label in LABELS],
        }
    )


def positivity_trend(reviews: list[dict[str, Any]]) -> pd.DataFrame:
    """Running average positivity over the scored reviews, oldest first, for the line chart."""
    scored = sorted(
        (r for r in reviews if r.get("status") == "scored" and r.get("positivity") is not None),
        key=lambda r: r["created_at"],
    )
    times = pd.to_datetime([local_time(r["created_at"]) for r in scored])
    positivity = pd.Series([r["positivity"] for r in scored], dtype="float64")
    running = positivity.expanding().mean()
    return pd.DataFrame({T["time_axis"]: times, T["positivity_axis"]: running.round(3)})


def model_summary(models: dict[str, Any], comparison: dict[str, Any] | None) -> str:
    """The live and candidate tags with how many reviews each scored, and their agreement."""
    scored = models.get("reviews_by_model", {})
    shadowed = models.get("candidate_predictions_by_model", {})

    def model_stat(name: str, model: dict[str, Any] | None, tag: str | None, counts: dict) -> str:
        tag = tag or (model or {}).get("tag") or "–"
        note = escape(T["models_reviews_scored"].format(count=counts.get(tag, 0)))
        return (
            f'<div class="stat"><div class="stat-name">{escape(T[name])}</div>'
            f'<div class="stat-value small" data-model="{name}">{escape(tag)}</div>'
            f'<div class="stat-note">{note}</div></div>'
        )

    live_tag = comparison["live"] if comparison else None
    candidate_tag = comparison["candidate"] if comparison else None
    agreement = ""
    if comparison and comparison.get("agreement") is not None:
        compared = escape(T["models_compared"].format(n=comparison["n"]))
        agreement = (
            f'<div class="stat"><div class="stat-name">{escape(T["models_agreement"])}</div>'
            f'<div class="stat-value" data-stat="agreement">{comparison["agreement"]:.0%}</div>'
            f'<div class="stat-note">{compared}</div></div>'
        )
    return (
        '<div class="stats">'
        + model_stat("models_live", models.get("live"), live_tag, scored)
        + model_stat("models_candidate", models.get("candidate"), candidate_tag, shadowed)
        + agreement
        + "</div>"
    )


def confusion_heatmap(comparison: dict[str, Any]) -> str:
    """The confusion matrix as a table whose cells darken with their share of the reviews."""
    confusion = comparison.get("confusion") or {}
    n = max(int(comparison.get("n") or 0), 1)
    header = "".join(f"<th>{escape(label_text(label))}</th>" for label in LABELS)
    rows = []
    for live in LABELS:
        cells = []
        for candidate in LABELS:
            count = int(confusion.get(live, {}).get(candidate, 0))
            share = count / n
            cells.append(
                f'<td data-cell="{live}-{candidate}" '
                f'style="background: rgba(79, 70, 229, {0.08 + 0.85 * share:.2f})">{count}</td>'
            )
        rows.append(f"<tr><th>{escape(label_text(live))}</th>{''.join(cells)}</tr>")
    return (
        f'<div class="confusion"><div class="stat-name">{escape(T["confusion_heading"])}</div>'
        f'<table class="heatmap"><tr><th></th>{header}</tr>{"".join(rows)}</table></div>'
    )


def movie_shifts(comparison: dict[str, Any]) -> pd.DataFrame:
    """Rows of (movie title, positivity shift) for the chart, largest move first."""
    movies = comparison.get("movies") or []
    return pd.DataFrame(
        {
            T["movie_axis"]: [movie["title"] for movie in movies],
            T["shift_axis"]: [round(movie["shift"], 3) for movie in movies],
        }
    )


def disagreement_cards(comparison: dict[str, Any]) -> str:
    """The latest reviews the two models labelled differently, each with both labels."""
    disagreements = comparison.get("disagreements") or []
    if not disagreements:
        return notice(escape(T["no_disagreements"]))
    cards = "".join(
        '<div class="review-card" data-review-id="{id}"><div class="review-content">{content}</div>'
        '<div class="review-meta">{live}: {live_label} → {candidate}: {candidate_label}</div>'
        "</div>".format(
            id=int(d["review_id"]),
            content=escape(d["content"]),
            live=escape(T["models_live"]),
            live_label=label_badge(d["live_label"]),
            candidate=escape(T["models_candidate"]),
            candidate_label=label_badge(d["candidate_label"]),
        )
        for d in disagreements
    )
    return f'<div class="stat-name">{escape(T["disagreements_heading"])}</div>{cards}'
