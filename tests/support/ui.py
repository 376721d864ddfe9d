"""A real `python -m ui` (the Gradio app) on a free loopback port, pointed at a gateway."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from tests.support.server_process import ServerProcess


class UIProcess(ServerProcess):
    """The UI in `lang` (ko or en) over the gateway at `gateway_url`, ready once its page loads."""

    name = "ui"
    ready_path = "/"

    def __init__(self, gateway_url: str, *, lang: str = "ko") -> None:
        # The developer's own key must not leak into a test's server.
        super().__init__({"GATEWAY_URL": gateway_url, "UI_LANG": lang, "GATEWAY_API_KEY": ""})
        # The port is only known once the base class picked it; Gradio's own variable wins.
        self.env.update(GRADIO_SERVER_NAME="127.0.0.1", GRADIO_SERVER_PORT=str(self.port))

    def command(self) -> Sequence[str]:
        return [sys.executable, "-m", "ui"]
