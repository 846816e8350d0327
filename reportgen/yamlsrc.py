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
            key = yaml.SafeLoader.construct_scalar(_LOADER, key_node)  # type: ignore[arg-type]
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
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = f":{mark.line + 1}" if mark else ""
        raise ConfigError(f"{name}{line}: invalid YAML: {exc.problem or exc}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{name}: invalid YAML: {exc}") from None
    out = Located(data=None, path=path)
    if node is None:
        out.data = {}
        return out
    try:
        out.data = _construct(node, "", out, name)
    except yaml.constructor.ConstructorError as exc:
        mark = exc.problem_mark
        line = f":{mark.line + 1}" if mark else ""
        raise ConfigError(f"{name}{line}: unsupported YAML value: {exc.problem}") from None
    return out
