"""Command-line options generated from config dataclasses: one option per field, nothing declared twice.

Each field of a config dataclass (``BenchmarkConfig``, ``TrainConfig``, ``PerfConfig``,
``EvaluatorConfig``, ...) becomes ``--field-name``, typed from its annotation, with the field's
``metadata["help"]`` as help text and its default shown after it. The rules:

============================  ==============================================================
annotation                    command line
============================  ==============================================================
``int`` / ``float`` / ``str``  ``--x 3``
``X | None``                  also ``--x none``
``bool``                      ``--x`` / ``--no-x``
``list[X]`` / ``tuple[X, ...]``  comma-separated: ``--x a,b,c``
``dict[...]``                 JSON: ``--x '{"k": 1}'``
============================  ==============================================================

A field without a default is a required option. Field metadata may add ``"choices"`` (allowed values),
``"nargs": "+"`` (a list also taken as several words) and ``"positional": True``. A new field in a
config appears on the command line with no change here; an annotation outside the table is refused
when the parser is built, naming the field.

The parsers print every error as one line, ``progressgym <command>: error: ...``, and exit with
status 2 (argparse's usage-error status).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import re
import sys
import types
import typing
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, NoReturn, TypeVar

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


class ArgumentParser(argparse.ArgumentParser):
    """An ``argparse.ArgumentParser`` whose usage errors are one line (``PROG: error: MESSAGE``), status 2."""

    def error(self, message: str) -> NoReturn:
        """Print ``PROG: error: MESSAGE (see PROG --help)`` on stderr and exit with status 2."""
        self.exit(
            2,
            f"{self.prog}: error: {' '.join(message.split())} (see {self.prog} --help)\n",
        )


class HelpFormatter(argparse.HelpFormatter):
    """Wider help columns (option names of config fields are long)."""

    def __init__(self, prog: str) -> None:
        super().__init__(prog, max_help_position=36, width=min(110, _terminal_width()))


def _terminal_width() -> int:
    import shutil

    return shutil.get_terminal_size((100, 24)).columns


class _BoolAction(argparse.BooleanOptionalAction):
    """``--x`` / ``--no-x`` whose help is exactly the text given (the default is added by this module)."""

    def __init__(self, *args: Any, help: str | None = None, **kwargs: Any) -> None:
        super().__init__(*args, help=None, **kwargs)
        self.help = help


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


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


def _scalar_converter(kind: type) -> Callable[[str], Any]:
    if kind is bool:

        def to_bool(text: str) -> bool:
            lowered = text.strip().lower()
            if lowered in ("1", "true", "yes", "on"):
                return True
            if lowered in ("0", "false", "no", "off"):
                return False
            raise argparse.ArgumentTypeError(f"expected true or false, found {text!r}")

        return to_bool
    if kind in (int, float, str):
        return kind
    raise TypeError(kind)


def _optional(convert: Callable[[str], Any]) -> Callable[[str], Any]:
    def to_optional(text: str) -> Any:
        return None if text.strip().lower() in ("none", "null") else convert(text)

    return _named(to_optional, getattr(convert, "__name__", "value"))


def _sequence(convert: Callable[[str], Any], name: str) -> Callable[[str], list[Any]]:
    def to_list(text: str) -> list[Any]:
        items = [item.strip() for item in text.split(",") if item.strip()]
        out = []
        for item in items:
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
    """How one annotation maps onto argparse."""

    convert: Callable[[str], Any]
    is_bool: bool = False
    sequence: type | None = None  # list or tuple
    metavar: str | None = None
    optional: bool = False


def _kind(annotation: Any, where: str) -> _Kind:
    """The argparse treatment of ``annotation`` (see the module table)."""
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
        return _Kind(_scalar_converter(bool), is_bool=True)
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


def _field_default(f: dataclasses.Field[Any]) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return dataclasses.MISSING


def option_fields(cls: type, exclude: Iterable[str] = ()) -> list[dataclasses.Field[Any]]:
    """The init fields of ``cls`` that become options (``exclude`` left out)."""
    skipped = set(exclude)
    return [f for f in dataclasses.fields(cls) if f.init and f.name not in skipped]


def add_dataclass_arguments(
    parser: argparse.ArgumentParser,
    cls: type,
    *,
    exclude: Iterable[str] = (),
    defaults: Mapping[str, Any] | None = None,
    aliases: Mapping[str, Sequence[str]] | None = None,
    title: str | None = None,
) -> None:
    """Add one option per field of the dataclass ``cls`` to ``parser`` (the destination is the field name).

    :param parser: the (sub)command's parser.
    :param cls: the config dataclass.
    :param exclude: fields left off the command line (the caller sets them).
    :param defaults: command-line defaults that differ from the dataclass's (shown in the help).
    :param aliases: extra option strings per field (e.g. ``{"total_timesteps": ["--timesteps"]}``).
    :param title: put the options in an argument group of this title.
    :raises TypeError: a field whose annotation has no command-line form (names the field).
    """
    hints = typing.get_type_hints(cls)
    overrides = dict(defaults or {})
    extra_flags = dict(aliases or {})
    unknown = sorted((set(overrides) | set(extra_flags)) - {f.name for f in dataclasses.fields(cls)})
    if unknown:
        raise TypeError(f"{cls.__name__} has no field(s) {unknown} (given as defaults or aliases)")
    target: Any = parser.add_argument_group(title) if title else parser
    for f in option_fields(cls, exclude):
        where = f"{cls.__name__}.{f.name}"
        kind = _kind(hints[f.name], where)
        default = overrides.get(f.name, _field_default(f))
        help_text = clean_text(str(f.metadata.get("help", "")))
        required = default is dataclasses.MISSING
        if not required:
            also = "; or none" if kind.optional and default is not None else ""
            help_text = f"{help_text} (default: {_format_default(default)}{also})".strip()
        options: dict[str, Any] = {"help": help_text.replace("%", "%%"), "dest": f.name}
        if "choices" in f.metadata:
            options["choices"] = tuple(f.metadata["choices"])
        flags = [_flag(f.name), *extra_flags.get(f.name, ())]
        if f.metadata.get("positional"):
            options.pop("dest")
            if not required:
                options.update(nargs="?", default=default)
            target.add_argument(f.name, type=kind.convert, **options)
            continue
        if kind.is_bool:
            target.add_argument(
                *flags,
                action=_BoolAction,
                default=default,
                required=required,
                **options,
            )
            continue
        options.update(type=kind.convert, required=required)
        if not required:
            options["default"] = default
        singular = (f.name.removesuffix("s")).upper()
        if kind.metavar:
            options["metavar"] = kind.metavar
        elif kind.sequence is not None:
            options["metavar"] = f"{singular},..."
        if kind.sequence is not None and f.metadata.get("nargs") == "+":
            options.update(nargs="+", metavar=singular)
        target.add_argument(*flags, **options)


def dataclass_from_args(
    cls: type[ConfigT],
    args: argparse.Namespace,
    *,
    exclude: Iterable[str] = (),
    **extra: Any,
) -> ConfigT:
    """Build ``cls`` from the parsed options of :func:`add_dataclass_arguments`.

    Lists come back as the field's kind (tuple or list); ``nargs="+"`` lists are flattened.

    :param cls: the config dataclass.
    :param args: the parsed namespace.
    :param exclude: fields not taken from ``args`` (pass them in ``extra``).
    :param extra: values for excluded fields.
    """
    hints = typing.get_type_hints(cls)
    values: dict[str, Any] = {}
    for f in option_fields(cls, exclude):
        value = getattr(args, f.name)
        kind = _kind(hints[f.name], f"{cls.__name__}.{f.name}")
        if kind.sequence is not None and isinstance(value, (list, tuple)):
            flat: list[Any] = []
            for item in value:
                flat.extend(item if isinstance(item, list) else [item])
            value = kind.sequence(flat)
        values[f.name] = value
    return cls(**values, **extra)


def fail(prog: str, message: str, status: int = 1) -> int:
    """Print ``PROG: error: MESSAGE`` as one line on stderr and return ``status``."""
    print(f"{prog}: error: {' '.join(str(message).split())}", file=sys.stderr)
    return status
