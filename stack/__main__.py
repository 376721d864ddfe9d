"""`python -m stack run`: the whole stack on one machine; `python -m stack serve PART`: one part.

Ports: MODEL_SERVICE_PORT, GATEWAY_PORT, UI_PORT (3000, 8000, 7860).
"""

import argparse
import sys

from stack.local import LocalStack, run, serve


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m stack", description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("run", help="the model service, the gateway and the UI, until Ctrl-C")
    one = commands.add_parser("serve", help="one part in the foreground")
    one.add_argument("part", choices=["model", "gateway", "ui"])
    args = parser.parse_args(argv)
    if args.command == "run":
        return run(LocalStack.from_environment())
    serve(LocalStack.from_environment(log_dir=None).parts()[args.part])
    return 0  # not reached: serve() replaces this process


if __name__ == "__main__":
    sys.exit(main())
