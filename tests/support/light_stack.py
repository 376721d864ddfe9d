"""`python -m tests.support.light_stack`: `make run`'s supervisor (stack.local.run) over three
static file servers in place of the parts, to test the supervisor without their start-up cost."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from stack.local import LocalStack, run
from stack.process import ServerProcess


class StaticServer(ServerProcess):
    name = "static server"

    def command(self) -> Sequence[str]:
        return [sys.executable, "-m", "http.server", str(self.port), "--bind", "127.0.0.1"]


def light_stack() -> LocalStack:
    model_service = StaticServer()
    gateway = StaticServer(
        {
            "MODEL_SERVICE_URL": model_service.url,
            "FIRST_SUPERUSER": "admin@localhost",
            "FIRST_SUPERUSER_PASSWORD": "not used by a static server",
        }
    )
    ui = StaticServer({"GATEWAY_URL": gateway.url})
    return LocalStack(model_service=model_service, gateway=gateway, ui=ui)  # type: ignore[arg-type]


if __name__ == "__main__":
    sys.exit(run(light_stack()))
