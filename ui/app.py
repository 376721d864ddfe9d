"""The Gradio app: six tabs over the gateway's HTTP API, handlers as plain functions.

Every handler turns a `GatewayError` into a readable message in the page; nothing here talks to
the database or the model service directly. A visitor's sign-in (`Visitor`: their token and
account) lives in their browser tab's session state only; the page shows each visitor only the
controls the gateway would let them use.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gradio as gr

from ui import render
from ui.client import GatewayClient, GatewayError
from ui.i18n import LABELS, T, label_text
from ui.settings import settings

PAGE_SIZE = 10
# The trend chart reads a movie's newest reviews, at most one gateway page of them.
TREND_LIMIT = 500
LABEL_COLOURS = ("#16a34a", "#9ca3af", "#dc2626")  # positive, neutral, negative
HIDDEN = "hidden"
ALL_MOVIES = 0  # the Reviews filter's "all movies" choice; real ids start at 1
MOVIE_FIELDS = ("title", "release_date", "director", "genre", "poster_url")

client = GatewayClient(settings.gateway_url, timeout_s=settings.gateway_timeout_s)

# {"token": ..., "user": {...}} for a signed-in visitor, None for an anonymous one.
Visitor = dict[str, Any] | None


def showing(visible: bool) -> bool | str:
    """A `visible` value: hidden components stay in the page ("hidden", not False), because
    Gradio 6 draws a component that starts out unrendered empty the first time it is shown."""
    return True if visible else HIDDEN


def shown(fragment: str) -> gr.HTML:
    """A message slot that takes no room while it is empty."""
    return gr.HTML(value=fragment, visible=showing(bool(fragment)))


# --- Home ---------------------------------------------------------------------------------------


def show_status() -> str:
    try:
        return render.status_panel(client.health())
    except GatewayError as error:
        return render.status_panel(None, error)


# --- Account ------------------------------------------------------------------------------------


def token_of(visitor: Visitor) -> str | None:
    return visitor["token"] if visitor else None


def is_admin(visitor: Visitor) -> bool:
    return bool(visitor and visitor["user"].get("is_admin"))


def may_change(visitor: Visitor, review: dict[str, Any]) -> bool:
    """What the gateway allows: an admin changes any review, a user their own."""
    if visitor is None:
        return False
    return is_admin(visitor) or review.get("user_id") == visitor["user"]["id"]


def sign_in(email: str, password: str) -> tuple[Visitor, str, str]:
    """Sign in; returns the visitor, the account notice and the password box (cleared)."""
    try:
        token = client.sign_in(email=(email or "").strip(), password=password or "")
        visitor = {"token": token, "user": client.me(token=token)}
    except GatewayError as error:
        return None, render.error_notice(error), ""
    return visitor, render.account_status(visitor["user"]), ""


def sign_up(email: str, password: str, display_name: str) -> tuple[Visitor, str, str]:
    """Create the account, then sign in with it."""
    try:
        client.register(
            email=(email or "").strip(),
            password=password or "",
            display_name=(display_name or "").strip(),
        )
    except GatewayError as error:
        return None, render.error_notice(error), gr.skip()
    return sign_in(email, password)


def sign_out() -> tuple[Visitor, str]:
    return None, render.account_status(None)


def show_access(visitor: Visitor) -> tuple:
    """The controls this visitor may use: movie forms for admins, the review form once signed
    in; in their place, a note saying who may. (Layout blocks take plain booleans: a hidden
    one's children stay in the page and are drawn when it is shown.)"""
    admin, signed_in = is_admin(visitor), visitor is not None
    return (
        gr.Column(visible=admin),
        shown("" if admin else render.notice(render.escape(T["admins_only"]))),
        gr.Column(visible=admin),
        gr.Column(visible=signed_in),
        shown("" if signed_in else render.notice(render.escape(T["sign_in_to_write"]))),
    )


# --- Movie choices shared by the Movies, Write review and Reviews tabs ----------------------------


def _movie_choices() -> list[tuple[str, int]]:
    return [(render.movie_choice_label(m), m["id"]) for m in client.list_movies(limit=100)]


def movie_picker(current: int | None) -> gr.Dropdown:
    """The movie dropdown with fresh choices, keeping the current pick while it still exists."""
    try:
        choices = _movie_choices()
    except GatewayError:
        return gr.Dropdown()
    ids = [movie_id for _, movie_id in choices]
    return gr.Dropdown(choices=choices, value=current if current in ids else next(iter(ids), None))


def movie_filter(current: int | None) -> gr.Dropdown:
    """The Reviews filter: "all movies" first, then every movie."""
    try:
        choices = [(T["all_movies"], ALL_MOVIES), *_movie_choices()]
    except GatewayError:
        return gr.Dropdown()
    ids = [movie_id for _, movie_id in choices]
    return gr.Dropdown(choices=choices, value=current if current in ids else ALL_MOVIES)


# --- Add movie ------------------------------------------------------------------------------------


def add_movie(
    visitor: Visitor, title: str, release_date: str, director: str, genre: str, poster_url: str
) -> tuple:
    """Create a movie; the gateway's validation messages go next to their fields.

    Returns the notice, one error slot per field, then the five field values (cleared on success).
    """
    typed = zip(MOVIE_FIELDS, (title, release_date, director, genre, poster_url), strict=True)
    # Blank optional fields are left out; the title is always sent so the gateway judges it.
    movie = {
        field: (v or "").strip() for field, v in typed if field == "title" or (v or "").strip()
    }
    try:
        created = client.create_movie(movie, token=token_of(visitor))
    except GatewayError as error:
        slots = [shown(render.field_error(error.field_errors.get(f))) for f in MOVIE_FIELDS]
        message = (
            render.notice(render.escape(T["fix_fields"]), kind="error")
            if error.field_errors
            else render.error_notice(error)
        )
        return (shown(message), *slots, *(gr.skip() for _ in MOVIE_FIELDS))
    message = render.notice(
        render.escape(T["movie_added"].format(title=created["title"])), kind="ok"
    )
    cleared = [shown("") for _ in MOVIE_FIELDS]
    return (shown(message), *cleared, *("" for _ in MOVIE_FIELDS))


# --- Movies ---------------------------------------------------------------------------------------


def show_movies(query: str) -> str:
    query = (query or "").strip()
    try:
        movies = client.list_movies(q=query or None)
        ratings = {movie["id"]: client.movie_rating(movie["id"]) for movie in movies}
    except GatewayError as error:
        return render.error_notice(error)
    return render.movie_cards(movies, searched=bool(query), ratings=ratings)


def ask_delete(movie_id: int | None) -> tuple[gr.Row, str, gr.HTML]:
    """First step of a delete: name the movie and show the confirm/cancel buttons."""
    if movie_id is None:
        return (
            gr.Row(visible=HIDDEN),
            "",
            shown(render.notice(render.escape(T["pick_movie_first"]))),
        )
    try:
        movie = client.get_movie(movie_id)
    except GatewayError as error:
        return gr.Row(visible=HIDDEN), "", shown(render.error_notice(error))
    question = render.escape(T["confirm_delete"].format(title=movie["title"]))
    return gr.Row(visible=True), render.notice(question, kind="warn"), shown("")


def confirm_delete(
    visitor: Visitor, movie_id: int | None, query: str
) -> tuple[gr.Row, gr.HTML, str, gr.Dropdown]:
    """Second step: delete the movie (its reviews go with it) and refresh the list."""
    if movie_id is None:
        return (*cancel_delete(), show_movies(query), gr.skip())
    try:
        title = client.get_movie(movie_id)["title"]
        client.delete_movie(movie_id, token=token_of(visitor))
        message = render.notice(render.escape(T["movie_deleted"].format(title=title)), kind="ok")
    except GatewayError as error:
        message = render.error_notice(error)
    return gr.Row(visible=HIDDEN), shown(message), show_movies(query), movie_picker(None)


def cancel_delete() -> tuple[gr.Row, gr.HTML]:
    return gr.Row(visible=HIDDEN), shown("")


# --- Write review -------------------------------------------------------------------------------


def submit_review(visitor: Visitor, movie_id: int | None, content: str) -> tuple:
    """Post a review and show its label, or that it waits to be scored.

    Returns the result, the review id (for a later refresh), the refresh button and the review
    text (cleared once the review is stored, so it is not sent twice).
    """
    if movie_id is None:
        message = render.notice(render.escape(T["pick_movie_first"]), kind="error")
        return message, None, gr.Button(visible=HIDDEN), gr.skip()
    try:
        review = client.create_review(
            movie_id=movie_id, content=content or "", token=token_of(visitor)
        )
    except GatewayError as error:
        return render.error_notice(error), None, gr.Button(visible=HIDDEN), gr.skip()
    pending = review.get("status") != "scored"
    return render.review_result(review), review["id"], gr.Button(visible=showing(pending)), ""


def refresh_review(review_id: int | None) -> tuple[str, gr.Button]:
    """Read a pending review again: once the gateway has scored it, its label shows."""
    if review_id is None:
        return "", gr.Button(visible=HIDDEN)
    try:
        review = client.get_review(review_id)
    except GatewayError as error:
        return render.error_notice(error), gr.Button(visible=True)
    return render.review_result(review), gr.Button(
        visible=showing(review.get("status") != "scored")
    )


# --- Reviews --------------------------------------------------------------------------------------


def show_reviews(movie_id: int | None, page: int = 0, visitor: Visitor = None) -> tuple:
    """One page of reviews plus, for a single movie, its statistics and charts, and the page's
    reviews this visitor may change.

    Returns stats, label chart, trend chart, review list, page label, page, previous, next,
    the manage row and its review picker.
    """
    movie_id = movie_id or ALL_MOVIES
    page = max(page, 0)
    try:
        titles = {m["id"]: m["title"] for m in client.list_movies(limit=100)}
        reviews = client.list_reviews(
            movie_id=movie_id or None, skip=page * PAGE_SIZE, limit=PAGE_SIZE
        )
        insight = _movie_insight(movie_id) if movie_id else None
    except GatewayError as error:
        return (render.error_notice(error), *_no_charts(), "", "", page, *_pager(page, False),
                *_manage(visitor, []))  # fmt: skip
    if insight is None:
        stats, charts = render.notice(render.escape(T["pick_movie_for_stats"])), _no_charts()
    else:
        stats, charts = insight
    listing = render.review_cards(reviews, titles)
    has_next = len(reviews) == PAGE_SIZE
    page_label = T["page"].format(page=page + 1)
    return (stats, *charts, listing, page_label, page, *_pager(page, has_next),
            *_manage(visitor, reviews))  # fmt: skip


def first_page(movie_id: int | None, visitor: Visitor = None) -> tuple:
    return show_reviews(movie_id, 0, visitor)


def previous_page(movie_id: int | None, page: int, visitor: Visitor = None) -> tuple:
    return show_reviews(movie_id, page - 1, visitor)


def next_page(movie_id: int | None, page: int, visitor: Visitor = None) -> tuple:
    return show_reviews(movie_id, page + 1, visitor)


def _manage(visitor: Visitor, reviews: list[dict[str, Any]]) -> tuple[gr.Column, gr.Dropdown]:
    """Edit and delete, offered for the reviews this visitor may change, and only then."""
    mine = [(render.review_choice_label(r), r["id"]) for r in reviews if may_change(visitor, r)]
    return (
        gr.Column(visible=bool(mine)),
        gr.Dropdown(choices=mine, value=mine[0][1] if mine else None),
    )


def edit_review(
    visitor: Visitor, review_id: int | None, content: str, movie_id: int | None, page: int
) -> tuple:
    """Save new text for the picked review; returns the notice, then the refreshed page."""
    if review_id is None:
        return (shown(""), *show_reviews(movie_id, page, visitor))
    try:
        client.update_review(review_id, content=content or "", token=token_of(visitor))
        message = render.notice(render.escape(T["review_updated"]), kind="ok")
    except GatewayError as error:
        message = render.error_notice(error)
    return (shown(message), *show_reviews(movie_id, page, visitor))


def delete_review(
    visitor: Visitor, review_id: int | None, movie_id: int | None, page: int
) -> tuple:
    """Delete the picked review; returns the notice, then the refreshed page."""
    if review_id is None:
        return (shown(""), *show_reviews(movie_id, page, visitor))
    try:
        client.delete_review(review_id, token=token_of(visitor))
        message = render.notice(render.escape(T["review_deleted"]), kind="ok")
    except GatewayError as error:
        message = render.error_notice(error)
    return (shown(message), *show_reviews(movie_id, page, visitor))


def _movie_insight(movie_id: int) -> tuple[str, tuple[gr.BarPlot, gr.LinePlot]]:
    rating = client.movie_rating(movie_id)
    if not rating["scored_count"]:  # nothing to draw yet
        return render.statistics(rating), _no_charts()
    reviews = client.list_reviews(movie_id=movie_id, limit=TREND_LIMIT)
    charts = (
        gr.BarPlot(value=render.label_distribution(rating), visible=True),
        # One point draws no line: the trend shows from the second scored review on.
        gr.LinePlot(
            value=render.positivity_trend(reviews), visible=showing(rating["scored_count"] > 1)
        ),
    )
    return render.statistics(rating), charts


def _no_charts() -> tuple[gr.BarPlot, gr.LinePlot]:
    return gr.BarPlot(visible=HIDDEN), gr.LinePlot(visible=HIDDEN)


def _pager(page: int, has_next: bool) -> tuple[gr.Button, gr.Button]:
    return gr.Button(interactive=page > 0), gr.Button(interactive=has_next)


# --- Models ---------------------------------------------------------------------------------------


def show_models() -> dict:
    """The live and candidate models, their agreement, confusion, moving movies, disagreements."""
    hidden = {models_heatmap: "", shift_chart: gr.BarPlot(visible=HIDDEN), disagreements: ""}
    try:
        models = client.models()
    except GatewayError as error:
        return {models_summary: render.error_notice(error), **hidden}
    try:
        comparison = client.model_comparison()
    except GatewayError as error:
        if error.status_code != 404:
            return {models_summary: render.error_notice(error), **hidden}
        missing = render.notice(render.escape(T["models_no_candidate"].format(detail=error.detail)))
        return {models_summary: render.model_summary(models, None) + missing, **hidden}
    return {
        models_summary: render.model_summary(models, comparison),
        models_heatmap: render.confusion_heatmap(comparison),
        shift_chart: gr.BarPlot(
            value=render.movie_shifts(comparison), visible=showing(bool(comparison["movies"]))
        ),
        disagreements: render.disagreement_cards(comparison),
    }


def movie_field(field: str) -> gr.Textbox:
    hints = {"release_date": T["release_date_hint"], "poster_url": T["poster_url_hint"]}
    label = T["movie_title" if field == "title" else field]
    return gr.Textbox(label=label, placeholder=hints.get(field), elem_id=f"movie-{field}")


# --- Layout ---------------------------------------------------------------------------------------

with gr.Blocks(title=T["title"], analytics_enabled=False) as demo:
    gr.Markdown(f"# {T['title']}\n{T['tagline']}", elem_id="masthead")
    # Per browser tab: a reload signs the visitor out, and no other visitor ever sees it.
    visitor = gr.State(None)
    with gr.Tabs():
        with gr.Tab(T["tab_home"], id="home") as home_tab:
            gr.Markdown(T["home_intro"])
            status_html = gr.HTML(elem_id="service-status")
            status_refresh = gr.Button(T["refresh"], size="sm", elem_id="status-refresh")

        with gr.Tab(T["tab_account"], id="account"):
            account_html = gr.HTML(render.account_status(None), elem_id="account-status")
            account_email = gr.Textbox(label=T["email"], elem_id="account-email")
            account_password = gr.Textbox(
                label=T["password"], type="password", elem_id="account-password"
            )
            account_name = gr.Textbox(label=T["display_name"], elem_id="account-name")
            with gr.Row():
                sign_in_button = gr.Button(T["sign_in"], variant="primary", elem_id="sign-in")
                sign_up_button = gr.Button(T["sign_up"], elem_id="sign-up")
                sign_out_button = gr.Button(T["sign_out"], elem_id="sign-out")

        with gr.Tab(T["tab_add_movie"], id="add-movie"):
            add_access = gr.HTML(render.notice(render.escape(T["admins_only"])))
            with gr.Column(visible=False, elem_id="add-movie-form") as add_form:
                form_notice = gr.HTML(visible=HIDDEN, elem_id="add-movie-notice")
                field_inputs, field_errors = [], []
                # Title alone on the first line, then two fields a line; each error under it.
                for line in (("title",), ("release_date", "director"), ("genre", "poster_url")):
                    with gr.Row():
                        for field in line:
                            with gr.Column():
                                field_inputs.append(movie_field(field))
                                field_errors.append(
                                    gr.HTML(visible=HIDDEN, elem_id=f"{field}-error")
                                )
                add_button = gr.Button(
                    T["add_movie"], variant="primary", elem_id="add-movie-button"
                )

        with gr.Tab(T["tab_movies"], id="movies") as movies_tab:
            with gr.Row(equal_height=True):
                search_box = gr.Textbox(
                    placeholder=T["search_hint"], show_label=False, scale=4, elem_id="movie-search"
                )
                search_button = gr.Button(T["search"], scale=1, elem_id="movie-search-button")
            movie_list = gr.HTML(elem_id="movie-list")
            with gr.Column(visible=False, elem_id="movie-admin") as movie_admin:
                with gr.Row(equal_height=True):
                    delete_pick = gr.Dropdown(
                        label=T["movie_to_delete"], scale=4, elem_id="delete-pick"
                    )
                    delete_button = gr.Button(
                        T["delete"], variant="stop", scale=1, elem_id="delete-button"
                    )
                with gr.Row(
                    visible=HIDDEN, equal_height=True, elem_id="confirm-delete"
                ) as confirm_row:
                    confirm_text = gr.HTML()
                    confirm_yes = gr.Button(T["confirm_yes"], variant="stop", elem_id="confirm-yes")
                    confirm_no = gr.Button(T["cancel"], elem_id="confirm-no")
            movies_notice = gr.HTML(visible=HIDDEN, elem_id="movies-notice")

        with gr.Tab(T["tab_write_review"], id="write-review") as write_tab:
            write_access = gr.HTML(render.notice(render.escape(T["sign_in_to_write"])))
            with gr.Column(visible=False, elem_id="review-form") as review_form:
                review_movie = gr.Dropdown(label=T["movie"], elem_id="review-movie")
                review_content = gr.Textbox(
                    label=T["review_content"],
                    lines=4,
                    placeholder=T["review_content_hint"],
                    elem_id="review-content",
                )
                submit_button = gr.Button(
                    T["write_review"], variant="primary", elem_id="submit-review"
                )
            review_result = gr.HTML(elem_id="review-result")
            refresh_button = gr.Button(
                T["refresh_result"], visible=HIDDEN, elem_id="refresh-review"
            )
            review_id = gr.State(None)

        with gr.Tab(T["tab_reviews"], id="reviews") as reviews_tab:
            reviews_filter = gr.Dropdown(label=T["filter_movie"], elem_id="reviews-filter")
            stats_html = gr.HTML(elem_id="review-stats")
            with gr.Row():
                label_chart = gr.BarPlot(
                    x=T["label_axis"],
                    y=T["count_axis"],
                    y_lim=[0, None],
                    color=T["label_axis"],
                    color_map=dict(zip(map(label_text, LABELS), LABEL_COLOURS, strict=True)),
                    title=T["label_distribution"],
                    visible=HIDDEN,
                    elem_id="label-chart",
                )
                trend_chart = gr.LinePlot(
                    x=T["time_axis"],
                    y=T["positivity_axis"],
                    y_lim=[0, 1],
                    x_axis_format="%m-%d %H:%M",
                    y_axis_format=".0%",
                    title=T["positivity_over_time"],
                    visible=HIDDEN,
                    elem_id="trend-chart",
                )
            review_list = gr.HTML(elem_id="review-list")
            with gr.Row(equal_height=True):
                previous_button = gr.Button(
                    T["previous_page"], interactive=False, elem_id="previous-page"
                )
                page_label = gr.Markdown(T["page"].format(page=1), elem_id="page-label")
                next_button = gr.Button(T["next_page"], interactive=False, elem_id="next-page")
            review_page = gr.State(0)
            with gr.Column(visible=False, elem_id="manage-reviews") as manage_row:
                manage_pick = gr.Dropdown(label=T["review_to_manage"], elem_id="manage-pick")
                manage_content = gr.Textbox(label=T["new_content"], elem_id="manage-content")
                with gr.Row():
                    edit_button = gr.Button(T["save_edit"], elem_id="edit-review")
                    delete_review_button = gr.Button(
                        T["delete_review"], variant="stop", elem_id="delete-review"
                    )
            manage_notice = gr.HTML(visible=HIDDEN, elem_id="manage-notice")

        with gr.Tab(T["tab_models"], id="models") as models_tab:
            models_summary = gr.HTML(elem_id="models-summary")
            models_refresh = gr.Button(T["refresh"], elem_id="models-refresh")
            with gr.Row():
                models_heatmap = gr.HTML(elem_id="confusion-heatmap")
                shift_chart = gr.BarPlot(
                    x=T["movie_axis"],
                    y=T["shift_axis"],
                    title=T["movie_shift_heading"],
                    sort="-y",
                    visible=HIDDEN,
                    elem_id="shift-chart",
                )
            disagreements = gr.HTML(elem_id="disagreements")

    # --- Wiring -----------------------------------------------------------------------------------
    review_outputs = [
        stats_html,
        label_chart,
        trend_chart,
        review_list,
        page_label,
        review_page,
        previous_button,
        next_button,
        manage_row,
        manage_pick,
    ]
    access_outputs = [add_form, add_access, movie_admin, review_form, write_access]

    demo.load(show_status, outputs=status_html)
    home_tab.select(show_status, outputs=status_html)
    status_refresh.click(show_status, outputs=status_html)

    account_outputs = [visitor, account_html, account_password]
    sign_in_button.click(
        sign_in, inputs=[account_email, account_password], outputs=account_outputs
    ).then(show_access, inputs=visitor, outputs=access_outputs)
    sign_up_button.click(
        sign_up, inputs=[account_email, account_password, account_name], outputs=account_outputs
    ).then(show_access, inputs=visitor, outputs=access_outputs)
    sign_out_button.click(sign_out, outputs=[visitor, account_html]).then(
        show_access, inputs=visitor, outputs=access_outputs
    )

    add_button.click(
        add_movie,
        inputs=[visitor, *field_inputs],
        outputs=[form_notice, *field_errors, *field_inputs],
    )

    movies_tab.select(show_movies, inputs=search_box, outputs=movie_list).then(
        movie_picker, inputs=delete_pick, outputs=delete_pick
    )
    search_button.click(show_movies, inputs=search_box, outputs=movie_list)
    search_box.submit(show_movies, inputs=search_box, outputs=movie_list)
    delete_button.click(
        ask_delete, inputs=delete_pick, outputs=[confirm_row, confirm_text, movies_notice]
    )
    confirm_yes.click(
        confirm_delete,
        inputs=[visitor, delete_pick, search_box],
        outputs=[confirm_row, movies_notice, movie_list, delete_pick],
    )
    confirm_no.click(cancel_delete, outputs=[confirm_row, movies_notice])

    write_tab.select(movie_picker, inputs=review_movie, outputs=review_movie)
    submit_button.click(
        submit_review,
        inputs=[visitor, review_movie, review_content],
        outputs=[review_result, review_id, refresh_button, review_content],
    )
    refresh_button.click(refresh_review, inputs=review_id, outputs=[review_result, refresh_button])

    page_inputs = [reviews_filter, review_page, visitor]
    reviews_tab.select(movie_filter, inputs=reviews_filter, outputs=reviews_filter).then(
        first_page, inputs=[reviews_filter, visitor], outputs=review_outputs
    )
    reviews_filter.input(first_page, inputs=[reviews_filter, visitor], outputs=review_outputs)
    previous_button.click(previous_page, inputs=page_inputs, outputs=review_outputs)
    next_button.click(next_page, inputs=page_inputs, outputs=review_outputs)
    edit_button.click(
        edit_review,
        inputs=[visitor, manage_pick, manage_content, reviews_filter, review_page],
        outputs=[manage_notice, *review_outputs],
    )
    delete_review_button.click(
        delete_review,
        inputs=[visitor, manage_pick, reviews_filter, review_page],
        outputs=[manage_notice, *review_outputs],
    )

    models_outputs = [models_summary, models_heatmap, shift_chart, disagreements]
    models_tab.select(show_models, outputs=models_outputs)
    models_refresh.click(show_models, outputs=models_outputs)


CSS = (Path(__file__).parent / "style.css").read_text(encoding="utf-8")
THEME = gr.themes.Soft(
    font=["Noto Sans CJK KR", "Noto Sans KR", "Apple SD Gothic Neo", "Malgun Gothic", "sans-serif"],
    font_mono=["Noto Sans Mono CJK KR", "monospace"],
)


def main() -> None:
    """Serve the app on GRADIO_SERVER_NAME / the configured port until interrupted."""
    demo.queue(default_concurrency_limit=8).launch(
        server_name=settings.server_name,
        server_port=settings.server_port,
        theme=THEME,
        css=CSS,
        footer_links=[],
    )
