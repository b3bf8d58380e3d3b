"""Command-line options generated from config dataclasses by ``simple-parsing``: nothing declared twice.

`simple-parsing <https://github.com/lebrice/SimpleParsing>`_ turns each field of a config dataclass into
``--field-name`` (``--x`` / ``--no-x`` for a ``bool``), with the field's ``metadata["help"]``,
``"choices"``, ``"positional"`` and ``"custom_args"`` (``add_argument`` options of its own), and builds
the dataclass from the parsed values, so the config's own validation runs on the command line's values.
This module adds the value syntax README documents, as ``add_argument`` options derived from the
annotation: ``X | None`` also takes ``none``, ``list[X]`` / ``tuple[X, ...]`` a comma-separated
``a,b,c``, ``dict`` a JSON object. Every help line ends with the default as it would be typed.

Every usage error is one line, ``PROG: error: ... (see PROG --help)``, with exit status 2. An error of a
config's validation while parsing propagates with the parser's ``prog`` as ``exc.cli_prog``.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NoReturn, TypeVar

import simple_parsing
from simple_parsing.helpers.custom_actions import BooleanOptionalAction
from simple_parsing.wrappers import DataclassWrapper, FieldWrapper

ConfigT = TypeVar("ConfigT")

_ROLE = re.compile(r":(?:[a-z]+:)?[a-z]+:`(~?)([^`]*)`")


def clean_text(text: str) -> str:
    """Help text as plain prose: Sphinx roles (``:func:`~a.b``` → ``b``) and ````literals```` unwrapped."""

    def role(match: re.Match[str]) -> str:
        tilde, target = match.group(1), match.group(2).strip()
        if "<" in target:
            return target.split("<", 1)[0].strip()
        return target.rsplit(".", 1)[-1] if tilde else target

    return " ".join(re.sub(r"``([^`]*)``", r"\1", _ROLE.sub(role, text)).split())


def _typed(value: Any) -> str:
    """A default as the user would type it."""
    if isinstance(value, (list, tuple)):
        return ",".join(map(_typed, value)) if value else "(empty)"
    if value is None or isinstance(value, bool):
        return str(value).lower()
    return json.dumps(value) if isinstance(value, dict) else str(value)


class HelpFormatter(argparse.HelpFormatter):
    """Wide option columns; help as plain prose ending with ``(default: ...)`` in command-line syntax."""

    def __init__(self, prog: str) -> None:
        width = min(110, shutil.get_terminal_size((100, 24)).columns)
        super().__init__(prog, max_help_position=36, width=width)

    def _format_action_invocation(self, action: argparse.Action) -> str:
        if isinstance(action, BooleanOptionalAction):  # "--x, --no-x", not "--x [bool], --no-x [bool]"
            return ", ".join(action.option_strings)
        return super()._format_action_invocation(action)

    def _get_help_string(self, action: argparse.Action) -> str:
        # simple-parsing's bool action appends its own "(default: %(default)s)"
        text = clean_text((action.help or "").removesuffix(" (default: %(default)s)"))
        if not action.required and action.default is not argparse.SUPPRESS and action.option_strings:
            none = "; or none" if isinstance(action.type, _OrNone) and action.default is not None else ""
            text = f"{text} (default: {_typed(action.default)}{none})".strip()
        return text.replace("%", "%%")


class ArgumentParser(simple_parsing.ArgumentParser):
    """``simple_parsing.ArgumentParser`` with ``--dashed-names``, this module's help and one-line errors."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, add_option_string_dash_variants=simple_parsing.DashVariant.DASH, **kwargs)

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {' '.join(message.split())} (see {self.prog} --help)\n")

    def exit(self, status: int = 0, message: str | None = None) -> NoReturn:
        if status == 0 and message:  # simple-parsing's bool action exits 0 with a bare message on --no-x=VALUE
            self.error(message)
        super().exit(status, message)

    def format_help(self) -> str:
        # simple-parsing adds the dataclass options lazily, in parse_args and print_help (which calls
        # this method, hence the private call); a subcommand's format_help() would list none of them.
        self._preprocessing()
        return super().format_help()

    def parse_known_args(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().parse_known_args(*args, **kwargs)
        except Exception as exc:  # a config's validation: the caller names this (sub)command
            if not hasattr(exc, "cli_prog"):
                exc.cli_prog = self.prog  # type: ignore[attr-defined]
            raise


class _OrNone:
    """``convert``, or ``None`` for ``none``/``null``."""

    def __init__(self, convert: Callable[[str], Any]) -> None:
        self.convert, self.__name__ = convert, getattr(convert, "__name__", "value")

    def __call__(self, text: str) -> Any:
        return None if text.strip().lower() in ("none", "null") else self.convert(text)


def _comma_list(convert: Callable[[str], Any]) -> Callable[[str], list[Any]]:
    def parse(text: str) -> list[Any]:
        values = []
        for item in filter(None, map(str.strip, text.split(","))):
            try:
                values.append(convert(item))
            except ValueError:
                message = f"expected comma-separated {convert.__name__} values, found {item!r} in {text!r}"
                raise argparse.ArgumentTypeError(message) from None
        return values

    return parse


def _json_object(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise argparse.ArgumentTypeError(f"expected a JSON object, found {text!r} ({exc.msg})") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"expected a JSON object ({{...}}), found {text!r}")
    return value


def _value_syntax(annotation: Any, name: str) -> dict[str, Any]:
    """The ``add_argument`` options of this module's value syntax for ``annotation`` ({}: the library's own)."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType) and len(args) == 2 and type(None) in args:
        (inner,) = (a for a in args if a is not type(None))
        scalar = inner in (int, float, str)
        return {"type": _OrNone(inner), "nargs": None} if scalar else _value_syntax(inner, name)
    if (origin is list or args[1:] == (Ellipsis,)) and args[:1] in ((int,), (float,), (str,)):
        return {"type": _comma_list(args[0]), "nargs": None, "metavar": f"{name.removesuffix('s').upper()},..."}
    if origin is dict or annotation is dict:
        return {"type": _json_object, "nargs": None, "metavar": "JSON"}
    return {}


class _Field(FieldWrapper):
    """The library's option for one field, with this module's value syntax as its ``custom_args``.

    ``custom_arg_options`` is simple-parsing's per-field override hook (it reads ``metadata["custom_args"]``,
    which still wins). Deriving it here from the annotation keeps the config dataclasses (in many modules)
    free of command-line code and from stating each field's type a second time.
    """

    @property
    def custom_arg_options(self) -> dict[str, Any]:
        metadata = self.field.metadata
        derived: dict[str, Any] = {}
        if self.is_bool:
            derived = {"negative_prefix": "--no-"}  # the library's default is --noX
        elif "choices" not in metadata:  # argparse's own metavar would be the dotted dest
            metavar = self.name if metadata.get("positional") else self.name.upper()
            derived = {"metavar": metavar, **_value_syntax(self.type, self.name)}
        return {**derived, **super().custom_arg_options}

    @property
    def aliases(self) -> list[str]:
        return [*super().aliases, *getattr(self.parent, "extra_aliases", {}).get(self.name, ())]


class _Dataclass(DataclassWrapper):
    """A config's options under ``group_title`` (the library's heading: the class name and docstring)."""

    group_title: str | None = None
    extra_aliases: Mapping[str, Sequence[str]] = {}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **{**kwargs, "field_wrapper_class": _Field})

    @property
    def title(self) -> str | None:  # type: ignore[override]
        return self.group_title

    @property
    def description(self) -> str:
        return ""


def add_command(
    subparsers: argparse._SubParsersAction,
    name: str,
    config: type,
    run: Any,
    *,
    help: str,
    description: str,
    defaults: Mapping[str, Any] | None = None,
    aliases: Mapping[str, Sequence[str]] | None = None,
) -> argparse.ArgumentParser:
    """One subcommand: its parser (one-line ``help``, ``description``), the options of ``config``, its ``run``."""
    parser = subparsers.add_parser(name, help=help, description=description, formatter_class=HelpFormatter)
    add_dataclass_arguments(parser, config, defaults=defaults, aliases=aliases)
    parser.set_defaults(func=run)
    return parser


def add_dataclass_arguments(
    parser: argparse.ArgumentParser,
    cls: type,
    *,
    defaults: Mapping[str, Any] | None = None,
    aliases: Mapping[str, Sequence[str]] | None = None,
    title: str | None = None,
) -> None:
    """Add one option per field of the dataclass ``cls`` to ``parser``.

    :param defaults: command-line defaults that differ from the dataclass's (shown in the help).
    :param aliases: extra option strings per field (e.g. ``{"total_timesteps": ["--timesteps"]}``).
    :param title: the heading of the options in ``--help``.
    """
    if not isinstance(parser, simple_parsing.ArgumentParser):
        raise TypeError(f"add_dataclass_arguments needs a {__name__}.ArgumentParser, found {type(parser).__name__}")
    wrapper = type("_Dataclass", (_Dataclass,), {"group_title": title, "extra_aliases": dict(aliases or {})})
    default = cls(**defaults) if defaults else None
    parser.add_arguments(cls, dest=f"config_{cls.__name__}", default=default, dataclass_wrapper_class=wrapper)


def dataclass_from_args(cls: type[ConfigT], args: argparse.Namespace) -> ConfigT:
    """The ``cls`` instance parsed from the options :func:`add_dataclass_arguments` added."""
    config = getattr(args, f"config_{cls.__name__}", None)
    if not isinstance(config, cls):
        raise TypeError(f"the parsed options hold no {cls.__name__} (was add_dataclass_arguments called?)")
    return config


def fail(prog: str, message: str, status: int = 1) -> int:
    """Print ``PROG: error: MESSAGE`` as one line on stderr and return ``status``."""
    print(f"{prog}: error: {' '.join(str(message).split())}", file=sys.stderr)
    return status
