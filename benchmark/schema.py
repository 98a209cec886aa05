"""The base of every validated structure of the suite (settings, sweep specs, run records), and the one
place that turns pydantic's validation errors into lines that name the key: ``training.epochs: must be
> 0, got -1``.

Models are strict (``"3"`` is not an integer, ``true`` is not a number), frozen, refuse unknown keys,
and refuse NaN and infinity, so that everything they hold is strict JSON.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

import tomllib
from pydantic import AfterValidator, BaseModel, ConfigDict, ValidationError

#: What a value of each pydantic type error should have been.
_EXPECTED = {
    "int_type": "an integer",
    "int_from_float": "an integer",
    "float_type": "a number",
    "string_type": "a string",
    "bool_type": "true or false",
    "list_type": "a list",
    "tuple_type": "a list",
    "dict_type": "an object (a TOML table)",
    "model_type": "an object (a TOML table)",
    "model_attributes_type": "an object (a TOML table)",
}
#: pydantic's constraint errors, as the comparison they failed.
_BOUNDS = {"greater_than": ">", "greater_than_equal": ">=", "less_than": "<", "less_than_equal": "<="}


def one_line(text: str) -> str:
    """``text``, checked to hold no newline or other control character (``ValueError`` otherwise)."""
    if any(ord(c) < 32 or ord(c) == 127 for c in text):
        raise ValueError(f"must not hold newlines or control characters, got {text!r}")
    return text


def _plain_name(name: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9._-]+", name) or name in (".", ".."):
        raise ValueError(f"must be a plain name ([A-Za-z0-9._-]+, not . or ..), got {name!r}")
    return name


#: Text that may reach a shell script or a file name: one line, no control characters.
Line = Annotated[str, AfterValidator(one_line)]
#: A name that becomes one folder of a path: letters, digits, ``.``, ``_`` and ``-``, not ``.`` or ``..``.
PlainName = Annotated[str, AfterValidator(_plain_name)]


class Model(BaseModel):
    """A strict, frozen pydantic model that refuses unknown keys and non-finite numbers."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False, validate_default=False)

    def to_json_dict(self) -> dict:
        """A JSON-ready dict of every field (tuples as lists)."""
        return self.model_dump(mode="json")


def key_of(loc: tuple) -> str:
    """The dotted key of a pydantic error location: ``("grid", "nodes", 0)`` -> ``grid.nodes``."""
    return ".".join(str(part) for part in loc if not isinstance(part, int))


def describe(error: Mapping[str, Any]) -> str:
    """One pydantic error (an item of ``ValidationError.errors()``) as ``key: what is wrong``."""
    kind, loc, value, ctx = error["type"], error["loc"], error.get("input"), error.get("ctx") or {}
    if kind == "missing":
        problem = "required"
    elif kind == "extra_forbidden":
        problem = "unknown key"
    elif kind in _EXPECTED:
        problem = f"must be {_EXPECTED[kind]}, got {value!r}"
    elif kind in _BOUNDS:
        problem = f"must be {_BOUNDS[kind]} {next(iter(ctx.values())):g}, got {value!r}"
    elif kind == "too_short" and ctx.get("min_length") == 1:
        problem = f"must be a non-empty list, got {value!r}"
    elif kind == "string_too_short":
        problem = f"must be a non-empty string, got {value!r}"
    elif kind == "finite_number":
        problem = f"must be a finite number, got {value!r}"
    elif kind == "literal_error":
        problem = f"must be one of {ctx['expected'].replace(chr(39), '')}, got {value!r}"
    elif kind == "value_error":
        problem = str(ctx.get("error", error["msg"]))
    else:
        problem = error["msg"][:1].lower() + error["msg"][1:]
    if loc and isinstance(loc[-1], int):
        problem = f"item {value!r} {problem}"
    key = key_of(loc)
    return f"{key}: {problem}" if key else problem


def describe_all(exc: ValidationError, prefix: str = "", model: type[BaseModel] | None = None) -> list[str]:
    """Every error of ``exc``, one line each, keys prefixed with ``prefix.`` when given.

    A model-level check names its keys itself, one line each, so its lines are kept as they are; an
    unknown key of ``model`` lists the known ones.
    """
    lines = []
    for error in exc.errors():
        if not error["loc"] and error["type"] == "value_error":
            lines += describe(error).splitlines()
            continue
        line = describe({**error, "loc": (prefix, *error["loc"]) if prefix else error["loc"]})
        if error["type"] == "extra_forbidden" and model is not None and len(error["loc"]) == 1:
            line += f"; known: {', '.join(model.model_fields)}"
        lines.append(line)
    return lines


def read_toml(path: str | Path, what: str, error: type[ValueError]) -> dict:
    """The TOML file at ``path`` (a ``what``: "sweep spec", "reference file") as a dict.

    Raises:
        error: naming the file, when it cannot be read or is not valid TOML.
    """
    path = Path(path)
    try:
        return tomllib.loads(path.read_text())
    except OSError as exc:
        raise error(f"{path}: cannot read {what}: {exc.strerror or exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise error(f"{path}: not valid TOML: {exc}") from exc


def validate(model: type[Model], data: Any, prefix: str = "") -> tuple[Model | None, list[str]]:
    """``model`` validated from ``data``, or None and every problem as ``key: what`` lines."""
    try:
        return model.model_validate(data), []
    except ValidationError as exc:
        return None, describe_all(exc, prefix, model)
