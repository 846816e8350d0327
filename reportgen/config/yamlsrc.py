"""Load YAML safely while remembering the line of every key, for errors that name it."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from reportgen.errors import ConfigError


@dataclass
class Located:
    """Plain YAML data plus the 1-based line of every key path (``presets.weekly.window``)."""

    data: Any
    lines: dict[str, int] = field(default_factory=dict)
    path: Path | None = None

    def line(self, key_path: str) -> int | None:
        """Return the line of ``key_path`` or of its nearest parent that has one."""
        while key_path:
            if key_path in self.lines:
                return self.lines[key_path]
            cut = max(key_path.rfind("."), key_path.rfind("["))
            key_path = key_path[:cut] if cut > 0 else ""
        return self.lines.get("")

    def where(self, key_path: str) -> str:
        """Return ``file:line`` for messages."""
        name = str(self.path) if self.path else "<config>"
        line = self.line(key_path)
        return f"{name}:{line}" if line else name


def _join(parent: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{parent}[{key}]"
    return f"{parent}.{key}" if parent else str(key)


def _construct(node: yaml.Node, key_path: str, out: Located, file: str) -> Any:
    """Turn a composed node into plain data with safe scalars only."""
    out.lines.setdefault(key_path, node.start_mark.line + 1)
    if node.tag.startswith("!") or node.tag.startswith("tag:yaml.org,2002:python"):
        raise ConfigError(
            f"{file}:{node.start_mark.line + 1}: {key_path or '(top)'}: unsupported YAML tag "
            f"{node.tag}; write plain values"
        )
    if isinstance(node, yaml.MappingNode):
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                raise ConfigError(
                    f"{file}:{key_node.start_mark.line + 1}: {key_path or '(top)'}: YAML merge "
                    "keys (<<) are not supported; write the keys out or use `defaults`"
                )
            key = yaml.SafeLoader.construct_scalar(_LOADER, key_node)
            key = str(key)
            child = _join(key_path, key)
            if key in result:
                raise ConfigError(
                    f"{file}:{key_node.start_mark.line + 1}: {child}: duplicate key "
                    f"(first at line {out.lines[child]}); remove one of them"
                )
            out.lines[child] = key_node.start_mark.line + 1
            result[key] = _construct(value_node, child, out, file)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [_construct(v, _join(key_path, i), out, file) for i, v in enumerate(node.value)]
    try:
        return _LOADER.construct_object(node, deep=True)
    except ValueError:
        # An impossible date such as 2025-02-30: keep the text so validation can name it.
        return node.value


#: Values that aliases (``*name``) may repeat in all: plenty for reusing a recipient list, and
#: far too few for an alias bomb, which repeats billions of values from a few hundred bytes.
MAX_ALIAS_VALUES = 10_000


class _Loader(yaml.SafeLoader):
    """The safe loader, noting where each alias (``*name``) is used and what it repeats."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.aliases: list[tuple[yaml.Mark, yaml.Node]] = []

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            target = self.anchors.get(event.anchor)
            if target is not None:  # an undefined alias is the composer's own error
                self.aliases.append((event.start_mark, target))
        return super().compose_node(parent, index)


def _check_aliases(root: yaml.Node, aliases: list[tuple[yaml.Mark, yaml.Node]], name: str) -> None:
    """Refuse aliases that would repeat too much, or themselves, before anything is expanded."""
    sizes: dict[int, int] = {}
    open_: set[int] = set()

    def size(node: yaml.Node) -> int:
        # Memoised on the node: the composed graph shares aliased nodes, so this counts the
        # expanded values without expanding them.
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in open_:
            raise _Cycle
        open_.add(key)
        children: list[yaml.Node] = []
        if isinstance(node, yaml.SequenceNode):
            children = list(node.value)
        elif isinstance(node, yaml.MappingNode):
            children = [n for pair in node.value for n in pair]
        sizes[key] = 1 + sum(size(c) for c in children)
        open_.discard(key)
        return sizes[key]

    total = 0
    for mark, target in aliases:
        try:
            total += size(target)
        except _Cycle:
            raise ConfigError(
                f"{name}:{mark.line + 1}: the alias refers to the value that contains it (an "
                "endless value); write the values out"
            ) from None
        if total > MAX_ALIAS_VALUES:
            raise ConfigError(
                f"{name}:{mark.line + 1}: YAML aliases (*name) here repeat more than "
                f"{MAX_ALIAS_VALUES:,} values (an alias bomb?); write the values out, or use "
                "`defaults` for what presets share"
            )


class _Cycle(Exception):
    """An alias inside the value it names."""


# One SafeLoader instance for scalar construction: only YAML's safe tags are ever resolved.
_LOADER = yaml.SafeLoader("")


def load_yaml(path: Path) -> Located:
    """Parse ``path`` with the safe loader; raise ConfigError with file:line on syntax errors."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found; pass --config PATH") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config: {exc.strerror}") from None
    try:
        text = raw.decode("utf-8-sig")  # a BOM from Windows editors is fine
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise ConfigError(
            f"{path}:{line}: not UTF-8 text (byte 0x{raw[exc.start]:02x}); save the file as UTF-8"
        ) from None
    return loads_yaml(text, path)


def loads_yaml(text: str, path: Path | None = None) -> Located:
    """Parse YAML text; see ``load_yaml``."""
    name = str(path) if path else "<config>"
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        raise ConfigError(f"{name}{explain_syntax(exc, text)}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{name}: invalid YAML: {exc}") from None
    except RecursionError:
        raise ConfigError(f"{name}: YAML nested too deeply; a config needs a few levels") from None
    finally:
        loader.dispose()
    out = Located(data=None, path=path)
    if node is None:
        out.data = {}
        return out
    _check_aliases(node, loader.aliases, name)
    try:
        out.data = _construct(node, "", out, name)
    except yaml.constructor.ConstructorError as exc:
        mark = exc.problem_mark
        line = f":{mark.line + 1}" if mark else ""
        raise ConfigError(f"{name}{line}: unsupported YAML value: {exc.problem}") from None
    return out


def explain_syntax(exc: yaml.MarkedYAMLError, text: str) -> str:
    """Return ``:LINE: what is wrong and how to fix it`` for a YAML syntax error."""
    mark = exc.problem_mark or exc.context_mark
    if mark is None:
        return f": invalid YAML: {exc.problem or exc}"
    err = _Syntax(text.splitlines(), exc.problem or "", exc.context or "", mark, exc.context_mark)
    for explain in (_bad_character, _stray_colon, _open_quote, _open_bracket, _block_shape):
        said = explain(err)
        if said:
            return said
    if "undefined alias" in err.problem:
        return f":{err.at}: {err.problem}; define it with &name before using *name"
    where = f" ({err.context} at line {err.ctx.line + 1})" if err.context else ""
    return f":{err.at}: invalid YAML: {err.problem}{where}"


@dataclass
class _Syntax:
    """A YAML syntax error and the text around it."""

    lines: list[str]
    problem: str
    context: str
    mark: yaml.Mark  # where the parser gave up
    opening: yaml.Mark | None  # what it was inside (a bracket, a quote, a block)

    @property
    def ctx(self) -> yaml.Mark:
        return self.opening or self.mark

    @property
    def at(self) -> int:
        return self.mark.line + 1

    @property
    def before(self) -> str:
        """Return the text of the error's line before the error."""
        line = self.lines[self.mark.line] if self.mark.line < len(self.lines) else ""
        return line[: self.mark.column]

    @property
    def opened(self) -> str:
        """Return the character that opened the bracket or quote the error is inside."""
        row = self.lines[self.ctx.line] if self.ctx.line < len(self.lines) else ""
        return row[self.ctx.column : self.ctx.column + 1]


def _bad_character(err: _Syntax) -> str | None:
    if "'\\t'" in err.problem:
        where = "in the indentation" if not err.before.strip() else "in a value"
        return f":{err.at}: a tab {where}; YAML indents with spaces only: use spaces"
    if "cannot start any token" in err.problem:
        row = err.lines[err.mark.line]
        char = row[err.mark.column : err.mark.column + 1]
        return (
            f":{err.at}: a plain value cannot start with {char!r}; put the value in quotes, "
            "e.g. key: 'value'"
        )
    return None


def _stray_colon(err: _Syntax) -> str | None:
    if "mapping values are not allowed" not in err.problem:
        return None
    if ": " in err.before or err.before.rstrip().endswith(":"):
        key, _, value = err.lines[err.mark.line].strip().partition(": ")
        return (
            f":{err.at}: a colon inside an unquoted value; put the value in quotes: "
            f'{key}: "{value}"'
        )
    # A line that continues the one above: that one lacks its ':', or this one is indented
    # further than a key may be.
    above = next((n for n in range(err.mark.line - 1, -1, -1) if err.lines[n].strip()), None)
    if above is not None and ":" not in err.lines[above]:
        return f":{above + 1}: a key without ':'; write {err.lines[above].strip()}: (then a space)"
    return f":{err.at}: {_INDENT}"


def _open_quote(err: _Syntax) -> str | None:
    if "quoted scalar" not in err.context:
        return None
    if "end of stream" in err.problem:
        return (
            f":{err.ctx.line + 1}: the quote {err.opened} opened here is never closed; end the "
            f"value with {err.opened}"
        )
    return f":{err.at}: {err.problem} in a quoted value; use single quotes for plain text"


def _open_bracket(err: _Syntax) -> str | None:
    if "flow sequence" not in err.context and "flow mapping" not in err.context:
        return None
    close = "]" if "sequence" in err.context else "}"
    if err.mark.line != err.ctx.line or "stream end" in err.problem:
        return (
            f":{err.ctx.line + 1}: the {err.opened} opened here is not closed; close it with "
            f"{close} and separate the items with commas"
        )
    return (
        f":{err.at}: unexpected text inside {err.opened}...{close}; separate items with commas "
        "and quote values that contain ':'"
    )


def _block_shape(err: _Syntax) -> str | None:
    if "expected <block end>" not in err.problem:
        return None
    if "'-'" in err.problem:
        return (
            f":{err.at}: a list item (-) among keys; put the list under a key of its own, "
            "indented below it"
        )
    if "<scalar>" in err.problem and any(q in err.before for q in "\"'"):
        return f":{err.at}: text after a closing quote; put the whole value inside the quotes"
    return f":{err.at}: {_INDENT}"


_INDENT = (
    "this line is not indented like the keys around it; keys of one mapping start in the "
    "same column (spaces only), a nested one further right than its parent key"
)
