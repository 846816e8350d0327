"""Declarative config options: each checks one value and says what is wrong in one line."""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Sequence
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

_MISSING = object()


class Invalid(Exception):
    """A value failed validation; ``path`` is the key path relative to the option."""

    def __init__(self, message: str, path: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.path = path


def suggest(value: str, choices: Sequence[str]) -> str:
    """Return a ``(did you mean 'x'?)`` hint when a close choice exists."""
    close = difflib.get_close_matches(value, list(choices), n=1, cutoff=0.6)
    if not close:
        close = [c for c in choices if c.lower() == value.lower()]
    return f" (did you mean '{close[0]}'?)" if close else ""


class Option:
    """One config option: a one-line doc, a default, and a check that converts the raw value."""

    def __init__(self, doc: str, default: Any = _MISSING) -> None:
        self.doc = doc
        self.default = default

    @property
    def required(self) -> bool:
        """Return True when the option has no default."""
        return self.default is _MISSING

    def check(self, value: Any) -> Any:
        """Return the converted value or raise Invalid."""
        return value

    def schema(self) -> dict[str, Any]:
        """Return the JSON Schema of this option: its type, doc and default."""
        out = self.type_schema()
        if self.doc:
            out = {"description": self.doc, **out}
        default = self.default() if callable(self.default) else self.default
        if not self.required and default is not None and _is_json(default):
            out["default"] = default
        return out

    def type_schema(self) -> dict[str, Any]:
        """Return the JSON Schema of the values this option accepts (no doc or default)."""
        return {}


class Str(Option):
    """A non-empty string, optionally matching a pattern."""

    def __init__(self, doc: str, default: Any = _MISSING, pattern: str | None = None) -> None:
        super().__init__(doc, default)
        self.pattern = re.compile(pattern) if pattern else None

    def check(self, value: Any) -> Any:
        if not isinstance(value, str) or not value.strip():
            raise Invalid(f"expected a non-empty string, got {_show(value)}")
        if self.pattern and not self.pattern.fullmatch(value):
            raise Invalid(f"{value!r} does not match {self.pattern.pattern}")
        return value

    def type_schema(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": "string", "pattern": r"\S"}
        if self.pattern:
            out["pattern"] = f"^(?:{self.pattern.pattern})$"
        return out


class _Number(Option):
    """A number within optional bounds (the shared part of Int and Float)."""

    lo: float | None
    hi: float | None

    def bounded(self, value: float) -> float:
        """Return ``value`` or raise Invalid when it is out of bounds."""
        if self.lo is not None and value < self.lo:
            raise Invalid(f"must be >= {self.lo}, got {value}")
        if self.hi is not None and value > self.hi:
            raise Invalid(f"must be <= {self.hi}, got {value}")
        return value

    def type_schema(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": "integer" if isinstance(self, Int) else "number"}
        if self.lo is not None:
            out["minimum"] = self.lo
        if self.hi is not None:
            out["maximum"] = self.hi
        return out


class Int(_Number):
    """An integer within optional bounds."""

    def __init__(
        self, doc: str, default: Any = _MISSING, lo: int | None = None, hi: int | None = None
    ) -> None:
        super().__init__(doc, default)
        self.lo, self.hi = lo, hi

    def check(self, value: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, int):
            raise Invalid(f"expected an integer, got {_show(value)}")
        return self.bounded(value)


class Float(_Number):
    """A number within optional bounds."""

    def __init__(
        self, doc: str, default: Any = _MISSING, lo: float | None = None, hi: float | None = None
    ) -> None:
        super().__init__(doc, default)
        self.lo, self.hi = lo, hi

    def check(self, value: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise Invalid(f"expected a number, got {_show(value)}")
        return float(self.bounded(value))


class Bool(Option):
    """true or false."""

    def check(self, value: Any) -> Any:
        if not isinstance(value, bool):
            raise Invalid(f"expected true or false, got {_show(value)}")
        return value

    def type_schema(self) -> dict[str, Any]:
        return {"type": "boolean"}


class Choice(Option):
    """One of a fixed set of strings."""

    def __init__(self, doc: str, choices: Sequence[str], default: Any = _MISSING) -> None:
        super().__init__(doc, default)
        self.choices = list(choices)

    def check(self, value: Any) -> Any:
        if value not in self.choices:
            hint = suggest(str(value), self.choices)
            raise Invalid(f"{_show(value)} is not one of {', '.join(self.choices)}{hint}")
        return value

    def type_schema(self) -> dict[str, Any]:
        return {"enum": list(self.choices)}


class Vocabulary(Option):
    """A string from a vocabulary known only at validation time (brands, categories)."""

    def __init__(self, doc: str, vocabulary: str, default: Any = _MISSING) -> None:
        super().__init__(doc, default)
        self.vocabulary = vocabulary  # key in the validation context

    def check_in(self, value: Any, known: Sequence[str]) -> str:
        """Return the canonical spelling of ``value`` or raise Invalid."""
        if not isinstance(value, str):
            raise Invalid(f"expected a string, got {_show(value)}")
        for k in known:
            if k.casefold() == value.casefold():
                return k
        hint = suggest(value, known)
        declare = _DECLARED_IN.get(self.vocabulary)
        where = f" (declare more under {declare})" if declare else ""
        raise Invalid(
            f"unknown {self.vocabulary} {value!r}{hint}; known: {', '.join(sorted(known))}{where}"
        )

    def type_schema(self) -> dict[str, Any]:
        # The vocabulary depends on the catalogue in the same file, so only the type is fixed.
        declare = _DECLARED_IN.get(self.vocabulary, "the catalogue")
        return {"type": "string", "description": f"A {self.vocabulary} (see {declare})."}


#: Where the config declares each vocabulary, for the error message.
_DECLARED_IN = {
    "brand": "catalogue.extra_products",
    "category": "catalogue.categories",
    "platform": "catalogue.platforms",
}


class DateOpt(Option):
    """A calendar date written YYYY-MM-DD."""

    def __init__(self, doc: str, default: Any = _MISSING, words: Sequence[str] = ()) -> None:
        super().__init__(doc, default)
        self.words = list(words)

    def check(self, value: Any) -> Any:
        if isinstance(value, str) and value in self.words:
            return value
        if isinstance(value, date):
            return value
        if isinstance(value, str):
            try:
                return date.fromisoformat(value)
            except ValueError:
                pass
        extra = f" or one of {', '.join(self.words)}" if self.words else ""
        raise Invalid(f"expected a date YYYY-MM-DD{extra}, got {_show(value)}")

    def type_schema(self) -> dict[str, Any]:
        day = {"type": "string", "format": "date"}
        return {"anyOf": [day, {"enum": self.words}]} if self.words else day


class TimeZone(Option):
    """An IANA timezone name such as Asia/Kolkata."""

    def check(self, value: Any) -> Any:
        if not isinstance(value, str):
            raise Invalid(f"expected an IANA timezone name, got {_show(value)}")
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise Invalid(
                f"unknown timezone {value!r}; use an IANA name such as Asia/Kolkata"
            ) from None
        return value

    def type_schema(self) -> dict[str, Any]:
        return {"type": "string", "examples": ["Asia/Kolkata", "Europe/Berlin", "UTC"]}


class ListOf(Option):
    """A list whose items all pass ``item``; a single scalar is accepted as a one-item list."""

    def __init__(self, doc: str, item: Option, default: Any = _MISSING) -> None:
        super().__init__(doc, default)
        self.item = item

    def check(self, value: Any) -> Any:
        if value is None:
            return []
        if isinstance(value, str) and "," in value:
            # `formats: html, pdf` is one string in YAML, not two items.
            items = ", ".join(v.strip() for v in value.split(","))
            raise Invalid(f"{value!r} is one text, not a list; write a list: [{items}]")
        if not isinstance(value, list):
            value = [value]
        out = []
        for i, v in enumerate(value):
            try:
                out.append(self.item.check(v))
            except Invalid as exc:
                raise Invalid(exc.message, f"[{i}]{exc.path}") from None
        return out

    def type_schema(self) -> dict[str, Any]:
        item = self.item.schema()
        # A list is what editors should suggest; one item alone and null are accepted too.
        return {"anyOf": [{"type": "array", "items": item}, item, {"type": "null"}]}


class MapOf(Option):
    """A mapping of string keys to values that pass ``value``."""

    def __init__(self, doc: str, value: Option, default: Any = _MISSING) -> None:
        super().__init__(doc, default)
        self.value = value

    def check(self, value: Any) -> Any:
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise Invalid(f"expected a mapping, got {_show(value)}")
        out = {}
        for k, v in value.items():
            try:
                out[str(k)] = self.value.check(v)
            except Invalid as exc:
                raise Invalid(exc.message, f".{k}{exc.path}") from None
        return out

    def type_schema(self) -> dict[str, Any]:
        return {"type": ["object", "null"], "additionalProperties": self.value.schema()}


class Custom(Option):
    """An option checked by a function that returns the value or raises Invalid."""

    def __init__(
        self,
        doc: str,
        fn: Callable[[Any], Any],
        default: Any = _MISSING,
        schema: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(doc, default)
        self.fn = fn
        self._schema = schema or {}  # what the function accepts, as far as JSON Schema can say

    def check(self, value: Any) -> Any:
        return self.fn(value)

    def type_schema(self) -> dict[str, Any]:
        return dict(self._schema)


class Section(Option):
    """A mapping with a fixed set of keys; unknown keys are errors."""

    def __init__(self, doc: str, fields: dict[str, Option], default: Any = _MISSING) -> None:
        super().__init__(doc, default)
        self.fields = fields

    def check(self, value: Any) -> Any:
        if value is None:
            value = {}
        if not isinstance(value, dict):
            raise Invalid(f"expected a mapping, got {_show(value)}")
        out: dict[str, Any] = {}
        for key in value:
            if key not in self.fields:
                hint = suggest(key, list(self.fields))
                raise Invalid(
                    f"unknown key{hint}; allowed here: {', '.join(self.fields)}", f".{key}"
                )
        for key, opt in self.fields.items():
            if key in value:
                try:
                    out[key] = opt.check(value[key])
                except Invalid as exc:
                    raise Invalid(exc.message, f".{key}{exc.path}") from None
            elif opt.required:
                raise Invalid(f"missing required key '{key}' ({opt.doc})")
            elif isinstance(opt, Section) and opt.default is dict:
                out[key] = opt.check({})  # a missing section gets each of its own defaults
            else:
                out[key] = opt.default() if callable(opt.default) else opt.default
        return out

    def type_schema(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "type": ["object", "null"],
            "properties": {k: opt.schema() for k, opt in self.fields.items()},
            "additionalProperties": False,
        }
        required = [k for k, opt in self.fields.items() if opt.required]
        if required:
            out["required"] = required
        return out


def _is_json(value: Any) -> bool:
    return isinstance(value, str | int | float | bool | list | dict)


def _show(value: Any) -> str:
    if value is None:
        return "nothing (null)"
    text = repr(value)
    return text if len(text) < 60 else text[:57] + "..."
