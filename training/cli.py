"""`python -m training <command> [options]`: the model's life cycle on one command line.

Each command's options are a dataclass in training.options, parsed by transformers'
HfArgumentParser; the command's module is imported only once it runs, so `--help` stays light.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import sys
from collections.abc import Sequence
from typing import NamedTuple

from transformers import HfArgumentParser

from training import options
from training.options import UsageError


class Command(NamedTuple):
    module: str  # its `main(*options) -> int` runs the command
    options: tuple[type, ...]
    summary: str


COMMANDS = {
    "train": Command(
        "training.train",
        (options.TrainRunOptions, options.TrainSettings),
        "pre-train (masked LM or ELECTRA) and fine-tune the default model from scratch; resumable",
    ),
    "ngram-head": Command(
        "training.ngram_head",
        (options.NgramHeadOptions,),
        "fit an n-gram head for a checkpoint and tune its mix on dev",
    ),
    "ngram-teacher": Command(
        "training.ngram_teacher",
        (options.NgramTeacherOptions,),
        "cross-fit an n-gram head on the training reviews: a teacher for `train --ngram-teacher`",
    ),
    "build": Command(
        "training.build",
        (options.BuildOptions, options.ResultOptions),
        "checkpoint → ONNX → INT8 → parity gate → bundle → model store",
    ),
    "evaluate": Command(
        "training.evaluate",
        (options.EvaluateOptions,),
        "score one bundle on a review TSV, or compare two",
    ),
    "register": Command(
        "training.register",
        (options.RegisterOptions,),
        "register a bundle directory in the BentoML model store",
    ),
    "soup": Command(
        "training.soup",
        (options.SoupOptions,),
        "average fine-tuned checkpoints of one encoder into one model",
    ),
    "tiny": Command(
        "training.tiny",
        (options.TinyOptions,),
        "a tiny sentiment checkpoint in seconds, for tests and dry runs",
    ),
}


class CommandParser(HfArgumentParser):
    """HfArgumentParser that also takes positional arguments: fields whose metadata says
    `positional=True`."""

    @staticmethod
    def _parse_dataclass_field(parser: argparse.ArgumentParser, field: dataclasses.Field):
        metadata = dict(field.metadata)
        if not metadata.pop("positional", False):
            return HfArgumentParser._parse_dataclass_field(parser, field)
        parser.add_argument(field.name, type=field.type, **metadata)


def parsers() -> tuple[argparse.ArgumentParser, dict[str, CommandParser]]:
    parser = argparse.ArgumentParser(prog="python -m training", description=__doc__.split("\n")[0])
    subparsers = parser.add_subparsers(
        dest="command", required=True, metavar="COMMAND", parser_class=CommandParser
    )
    commands = {
        name: subparsers.add_parser(
            name,
            dataclass_types=command.options,
            help=command.summary,
            description=command.summary,
        )
        for name, command in COMMANDS.items()
    }
    return parser, commands


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser, commands = parsers()
    name = parser.parse_args(argv).command  # --help, unknown commands and bad options end here
    command_parser = commands[name]
    parsed = command_parser.parse_args_into_dataclasses(args=argv[1:])
    run = importlib.import_module(COMMANDS[name].module).main
    try:
        return run(*parsed)
    except UsageError as error:
        command_parser.error(str(error))  # exits with status 2, after the command's usage
