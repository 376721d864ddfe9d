"""UI settings and words: ports as Gradio, Cloud Run and make give them; both languages whole."""

import json
import os
import subprocess
import sys

import pytest

from ui.i18n import CATALOG, LABELS, label_text
from ui.settings import Settings

PORT_VARIABLES = ("GRADIO_SERVER_PORT", "PORT", "UI_PORT")


@pytest.fixture
def clean_env(monkeypatch):
    for name in (*PORT_VARIABLES, "UI_LANG", "GATEWAY_URL", "GRADIO_SERVER_NAME"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_defaults_talk_to_a_local_gateway_in_korean(clean_env):
    settings = Settings()
    assert settings.gateway_url == "http://127.0.0.1:8000"
    assert (settings.ui_lang, settings.server_name, settings.server_port) == (
        "ko",
        "127.0.0.1",
        7860,
    )


@pytest.mark.parametrize(
    ("env", "port"),
    [
        ({"UI_PORT": "7001"}, 7001),
        ({"UI_PORT": "7001", "PORT": "8080"}, 8080),  # Cloud Run's PORT wins over ours
        ({"UI_PORT": "7001", "PORT": "8080", "GRADIO_SERVER_PORT": "9000"}, 9000),
    ],
)
def test_port_precedence(clean_env, env, port):
    for name, value in env.items():
        clean_env.setenv(name, value)
    assert Settings().server_port == port


def test_english_is_a_setting_away_and_other_languages_are_refused(clean_env):
    clean_env.setenv("UI_LANG", "en")
    assert Settings().ui_lang == "en"
    clean_env.setenv("UI_LANG", "fr")
    with pytest.raises(ValueError, match="ui_lang"):
        Settings()


def test_both_languages_say_everything():
    assert CATALOG["ko"].keys() == CATALOG["en"].keys()
    assert [CATALOG["ko"][label] for label in LABELS] == ["긍정", "중립", "부정"]
    assert [CATALOG["en"][label] for label in LABELS] == ["Positive", "Neutral", "Negative"]
    assert label_text("positive") == "😊 긍정"


def test_the_whole_app_builds_in_english():
    tab_labels = (
        "import json, gradio as gr; from ui.app import demo; "
        "print(json.dumps([b.label for b in demo.blocks.values() if isinstance(b, gr.Tab)]))"
    )
    built = subprocess.run(
        [sys.executable, "-c", tab_labels],
        env={**os.environ, "UI_LANG": "en"},
        capture_output=True,
        text=True,
        check=True,
    )
    labels = json.loads(built.stdout.strip().splitlines()[-1])
    assert labels == ["Home", "Account", "Add movie", "Movies", "Write review", "Reviews", "Models"]
