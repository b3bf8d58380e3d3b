"""Command-line options generated from config dataclasses, on ``simple-parsing``: nothing declared twice.

`simple-parsing <https://github.com/lebrice/SimpleParsing>`_ turns each field of a config dataclass
(``BenchmarkConfig``, ``TrainConfig``, ``PerfConfig``, ``EvaluatorConfig``, ...) into ``--field-name``
with the field's ``metadata["help"]``, makes a field without a default a required option, keeps
``metadata["positional"]`` fields positional, and builds the dataclass instance from the parsed values
(so the config's own validation runs on the command line's values). This module only adds what the
library leaves to its users: the value syntax README documents, and one-line errors.

============================  ==============================================================
annotation                    command line
============================  ==============================================================
``int`` / ``float`` / ``str``  ``--x 3``
``X | None``                  also ``--x none``
``bool``                      ``--x`` / ``--no-x``
``list[X]`` / ``tuple[X, ...]``  comma-separated: ``--x a,b,c``
``dict[...]``                 JSON: ``--x '{"k": 1}'``
============================  ==============================================================

Every help line ends with the default as it would be typed. Field metadata may add ``"choices"``
(allowed values) and ``"nargs": "+"`` (a list also taken as several words). An annotation outside the
table is refused when the parser is built, naming the field.

The parsers print every usage error as one line, ``progressgym <command>: error: ...``, and exit with
status 2 (argparse's usage-error status). An error raised by a config's own validation while the
command line is parsed propagates with the parser's ``prog`` attached (``exc.cli_prog``), so the
caller can print it as one line too.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import re
import sys
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NoReturn, TypeVar

from simple_parsing import ArgumentParser as _SimpleParser
from simple_parsing import DashVariant
from simple_parsing.wrappers import DataclassWrapper, FieldWrapper

ConfigT = TypeVar("ConfigT")

_ROLE = re.compile(r":(?:[a-z]+:)?[a-z]+:`(~?)([^`]*)`")
_LITERAL = re.compile(r"``([^`]*)``")


def clean_text(text: str) -> str:
    """Docstring or help text as plain prose: Sphinx roles and literals unwrapped, whitespace collapsed.

    ``:func:`~pkg.mod.name``` becomes ``name``, ``:mod:`pkg.mod``` becomes ``pkg.mod``, a role's
    ``title <target>`` becomes ``title``, and ````code```` becomes ``code``.

    :param text: reStructuredText-flavoured text.
    """

    def role(match: re.Match[str]) -> str:
        tilde, target = match.group(1), match.group(2).strip()
        if "<" in target:
            return target.split("<", 1)[0].strip()
        return target.rsplit(".", 1)[-1] if tilde else target

    text = _ROLE.sub(role, text)
    text = _LITERAL.sub(r"\1", text)
    return " ".join(text.split())


class HelpFormatter(argparse.HelpFormatter):
    """Wider help columns (option names of config fields are long); the defaults are in the help text."""

    def __init__(self, prog: str) -> None:
        super().__init__(prog, max_help_position=36, width=min(110, _terminal_width()))


def _terminal_width() -> int:
    import shutil

    return shutil.get_terminal_size((100, 24)).columns


class ArgumentParser(_SimpleParser):
    """A ``simple_parsing.ArgumentParser`` with ``--dashed-names``, this module's help layout and one-line errors."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, add_option_string_dash_variants=DashVariant.DASH, **kwargs)

    def error(self, message: str) -> NoReturn:
        """Print ``PROG: error: MESSAGE (see PROG --help)`` on stderr and exit with status 2."""
        self.exit(
            2,
            f"{self.prog}: error: {' '.join(message.split())} (see {self.prog} --help)\n",
        )

    def format_help(self) -> str:
        """The help text, with every dataclass option added first (``simple-parsing`` adds them lazily)."""
        self._preprocessing()
        return super().format_help()

    def parse_known_args(self, *args: Any, **kwargs: Any) -> Any:
        """Parse; an error of a config's validation leaves with this parser's ``prog`` as ``cli_prog``."""
        try:
            return super().parse_known_args(*args, **kwargs)
        except Exception as exc:
            if not hasattr(exc, "cli_prog"):
                exc.cli_prog = self.prog  # type: ignore[attr-defined]
            raise


class _BoolAction(argparse.BooleanOptionalAction):
    """``--x`` / ``--no-x`` whose help is exactly the text given (the default is already in it)."""

    def __init__(self, *args: Any, help: str | None = None, **kwargs: Any) -> None:
        for simple_parsing_only in ("type", "metavar", "_conflict_prefix"):
            kwargs.pop(simple_parsing_only, None)
        super().__init__(*args, help=None, **kwargs)
        self.help = help


def _format_default(value: Any) -> str:
    """A default as the user would type it."""
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return ",".join(_format_default(v) for v in value) if value else "(empty)"
    if isinstance(value, dict):
        return json.dumps(value)
    return str(value)


def _named(function: Callable[[str], Any], name: str) -> Callable[[str], Any]:
    """Give a converter the name argparse shows in "invalid <name> value" errors."""
    function.__name__ = name
    return function


def _optional(convert: Callable[[str], Any]) -> Callable[[str], Any]:
    def to_optional(text: str) -> Any:
        return None if text.strip().lower() in ("none", "null") else convert(text)

    return _named(to_optional, getattr(convert, "__name__", "value"))


def _sequence(convert: Callable[[str], Any], name: str) -> Callable[[str], list[Any]]:
    def to_list(text: str) -> list[Any]:
        out = []
        for item in (item.strip() for item in text.split(",")):
            if not item:
                continue
            try:
                out.append(convert(item))
            except (TypeError, ValueError):
                raise argparse.ArgumentTypeError(
                    f"expected comma-separated {name} values, found {item!r} in {text!r}"
                ) from None
        return out

    return _named(to_list, f"comma-separated {name}")


def _json_dict(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise argparse.ArgumentTypeError(f"expected a JSON object, found {text!r} ({exc.msg})") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"expected a JSON object ({{...}}), found {text!r}")
    return value


@dataclasses.dataclass(frozen=True)
class _Kind:
    """How one annotation is typed on the command line."""

    convert: Callable[[str], Any]
    is_bool: bool = False
    sequence: type | None = None  # list or tuple
    metavar: str | None = None
    optional: bool = False


def _kind(annotation: Any, where: str) -> _Kind:
    """The command-line treatment of ``annotation`` (see the module table)."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        rest = [a for a in args if a is not type(None)]
        if len(rest) == 1 and len(rest) < len(args):
            inner = _kind(rest[0], where)
            if inner.is_bool:
                raise TypeError(f"{where}: Optional[bool] has no command-line form; use bool")
            convert = inner.convert if inner.sequence else _optional(inner.convert)
            return dataclasses.replace(inner, convert=convert, optional=inner.sequence is None)
        raise TypeError(f"{where}: the union {annotation} has no command-line form")
    if annotation is bool:
        return _Kind(bool, is_bool=True)
    if annotation in (int, float, str):
        return _Kind(annotation)
    if origin in (list, tuple, Sequence) or annotation in (list, tuple):
        item = args[0] if args else str
        if origin is tuple and args and not (len(args) == 2 and args[1] is Ellipsis):
            raise TypeError(f"{where}: fixed-length tuples have no command-line form; use tuple[X, ...]")
        if item not in (int, float, str):
            raise TypeError(f"{where}: lists of {item} have no command-line form")
        kind = tuple if origin is tuple or annotation is tuple else list
        return _Kind(_sequence(item, item.__name__), sequence=kind)
    if origin in (dict, Mapping) or annotation is dict:
        return _Kind(_named(_json_dict, "JSON object"), metavar="JSON")
    raise TypeError(f"{where}: the annotation {annotation!r} has no command-line form")


class _Field(FieldWrapper):
    """One field's option: the library's names, dest and required flag; this module's types and help."""

    aliases_of: Mapping[str, Sequence[str]] = {}

    @property
    def kind(self) -> _Kind:
        return _kind(self.type, f"{self.parent.dataclass.__name__}.{self.name}")

    @property
    def aliases(self) -> list[str]:
        return list(self.aliases_of.get(self.name, ()))

    @property
    def option_strings(self) -> list[str]:
        """``--field-name`` first, then its aliases (the library sorts them by length)."""
        strings = list(super().option_strings)
        own = "--" + self.name.replace("_", "-")
        return [own, *(s for s in strings if s != own)] if own in strings else strings

    def get_arg_options(self) -> dict[str, Any]:
        """The ``add_argument`` options of this field (see the module table)."""
        options = super().get_arg_options()
        kind = self.kind
        metadata = self.field.metadata
        help_text = clean_text(str(metadata.get("help", "")))
        if not self.required:
            also = "; or none" if kind.optional and self.default is not None else ""
            help_text = f"{help_text} (default: {_format_default(self.default)}{also})".strip()
        options["help"] = help_text.replace("%", "%%")
        options.pop("choices", None)
        if "choices" in metadata:
            options["choices"] = tuple(metadata["choices"])
        if kind.is_bool:
            options.update(action=_BoolAction)
            options.pop("nargs", None)
            return options
        options.update(type=kind.convert)
        options.pop("nargs", None)
        options.pop("metavar", None)
        singular = self.name.removesuffix("s").upper()
        if metadata.get("positional"):
            options["metavar"] = self.name
            if not self.required:
                options["nargs"] = "?"
        elif kind.metavar:
            options["metavar"] = kind.metavar
        elif kind.sequence is not None:
            options["metavar"] = f"{singular},..."
            if metadata.get("nargs") == "+":
                options.update(nargs="+", metavar=singular)
        elif "choices" not in options:
            options["metavar"] = self.name.upper()  # argparse's own default would be the dotted dest
        return options

    def postprocess(self, raw_parsed_value: Any) -> Any:
        """Lists as the field's kind (tuple or list); several ``nargs="+"`` words flattened."""
        kind = self.kind
        if kind.sequence is not None and isinstance(raw_parsed_value, (list, tuple)):
            flat: list[Any] = []
            for item in raw_parsed_value:
                flat.extend(item if isinstance(item, list) else [item])
            return kind.sequence(flat)
        return raw_parsed_value


class _Dataclass(DataclassWrapper):
    """A config dataclass's options, under ``group_title`` or among the parser's own (no docstring markup)."""

    group_title: str | None = None
    field_class: type[_Field] = _Field

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["field_wrapper_class"] = self.field_class
        super().__init__(*args, **kwargs)

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        target: Any = parser.add_argument_group(self.group_title) if self.group_title else parser
        for wrapped in self.fields:
            target.add_argument(*wrapped.option_strings, **wrapped.arg_options)


def _dest(cls: type) -> str:
    return f"config_{cls.__name__}"


def add_dataclass_arguments(
    parser: argparse.ArgumentParser,
    cls: type,
    *,
    defaults: Mapping[str, Any] | None = None,
    aliases: Mapping[str, Sequence[str]] | None = None,
    title: str | None = None,
) -> None:
    """Add one option per field of the dataclass ``cls`` to ``parser`` (an :class:`ArgumentParser`).

    :param parser: the (sub)command's parser.
    :param cls: the config dataclass.
    :param defaults: command-line defaults that differ from the dataclass's (shown in the help).
    :param aliases: extra option strings per field (e.g. ``{"total_timesteps": ["--timesteps"]}``).
    :param title: the heading of the options in ``--help`` (default: none, among the parser's own options).
    :raises TypeError: a field whose annotation has no command-line form (names the field), or
        ``defaults``/``aliases`` naming no field.
    """
    if not isinstance(parser, _SimpleParser):
        raise TypeError(f"add_dataclass_arguments needs a {__name__}.ArgumentParser, found {type(parser).__name__}")
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted((set(defaults or {}) | set(aliases or {})) - names)
    if unknown:
        raise TypeError(f"{cls.__name__} has no field(s) {unknown} (given as defaults or aliases)")
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if f.init:
            _kind(hints[f.name], f"{cls.__name__}.{f.name}")  # refuse an unsupported annotation now
    field_class = type("_Field", (_Field,), {"aliases_of": dict(aliases or {})})
    wrapper = type("_Dataclass", (_Dataclass,), {"group_title": title, "field_class": field_class})
    parser.add_arguments(
        cls,
        dest=_dest(cls),
        default=cls(**defaults) if defaults else None,
        dataclass_wrapper_class=wrapper,
    )


def dataclass_from_args(cls: type[ConfigT], args: argparse.Namespace) -> ConfigT:
    """The ``cls`` instance parsed from the options :func:`add_dataclass_arguments` added."""
    config = getattr(args, _dest(cls))
    if not isinstance(config, cls):
        raise TypeError(f"the parsed options hold no {cls.__name__} (was add_dataclass_arguments called?)")
    return config


def fail(prog: str, message: str, status: int = 1) -> int:
    """Print ``PROG: error: MESSAGE`` as one line on stderr and return ``status``."""
    print(f"{prog}: error: {' '.join(str(message).split())}", file=sys.stderr)
    return status
