"""`make run CANDIDATE_MODEL_TAG=...`: a second model service for the tag, shadowed by the gateway;
a tag the model store lacks stops the start with a message saying how to register one."""

from stack.local import LocalStack, run


def test_a_candidate_tag_adds_a_model_service_the_gateway_shadows():
    stack = LocalStack.from_environment(
        {"CANDIDATE_MODEL_TAG": "korean-sentiment:20261201-cand", "MODEL_SERVICE_PORT": "3100"},
        log_dir=None,
    )

    assert stack.candidate is not None
    assert (stack.candidate.port, stack.candidate.env["MODEL_TAG"]) == (
        3101,
        "korean-sentiment:20261201-cand",
    )
    assert stack.gateway.env["SHADOW_MODEL_SERVICE_URL"] == "http://127.0.0.1:3101"
    assert list(stack.parts()) == ["model", "candidate", "gateway", "ui"]


def test_without_a_candidate_tag_nothing_is_shadowed():
    stack = LocalStack.from_environment({}, log_dir=None)

    assert stack.candidate is None
    assert (
        "SHADOW_MODEL_SERVICE_URL" not in stack.gateway.env
        or not stack.gateway.env["SHADOW_MODEL_SERVICE_URL"]
    )


def test_a_tag_missing_from_the_store_fails_at_start_saying_how_to_register(
    tmp_path, monkeypatch, capsys
):
    monkeypatch.setenv("BENTOML_HOME", str(tmp_path / "empty-store"))
    stack = LocalStack.from_environment(
        {"CANDIDATE_MODEL_TAG": "korean-sentiment:19990101-none"}, log_dir=None
    )

    assert run(stack) == 2
    message = capsys.readouterr().err
    assert "korean-sentiment:19990101-none is not in the model store" in message
    assert "python -m training register DIR" in message
    assert stack.candidate.process is None  # nothing was started
