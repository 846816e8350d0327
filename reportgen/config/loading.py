"""Loading: read config.yaml (or text), check it against the option declarations and build the
typed ``Config``, naming file, line and key in every error."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from reportgen.config import catalogue
from reportgen.config import checks as config_checks
from reportgen.config.fields import ALL_TABLES, NAME, TOP_FIELDS
from reportgen.config.options import Section
from reportgen.config.presets import build_preset, check_preset_field
from reportgen.config.settings import (
    Config,
    EmailConfig,
    EngineConfig,
    Preset,
    ScheduleConfig,
    SimulateConfig,
    SourceConfig,
)
from reportgen.config.values import check_option
from reportgen.config.yamlsrc import Located, load_yaml, loads_yaml
from reportgen.errors import ConfigError


def load(path: Path | str) -> Config:
    """Read and validate a config file; raise ConfigError naming file, line and key."""
    path = Path(path)
    return from_located(load_yaml(path))


def loads(text: str, root: Path | None = None) -> Config:
    """Validate config text (used by tests and the ad hoc CLI)."""
    located = loads_yaml(text)
    return from_located(located, root=root)


def from_located(src: Located, root: Path | None = None) -> Config:
    """Validate parsed YAML."""
    data = src.data
    if not isinstance(data, dict):
        raise ConfigError(f"{src.where('')}: the config must be a mapping of keys")
    top = check_option(Section("", TOP_FIELDS), data, "", src)
    root = root or (src.path.parent.resolve() if src.path else Path.cwd())
    products, categories, platforms = _catalogue(top["catalogue"])
    vocab = {"brand": sorted(set(products.values())), "category": categories, "platform": platforms}
    presets = _presets(data, src, vocab)
    config = Config(
        path=src.path,
        root=root,
        source=_source_config(top["source"], root, src),
        products=products,
        categories=categories,
        platforms=platforms,
        output_dir=_resolve(root, top["output"]["dir"]),
        templates_dir=_resolve(root, top["output"]["templates"]),
        presets=presets,
        email=EmailConfig(**top["email"]),
        schedule=ScheduleConfig(
            state_dir=_resolve(root, top["schedule"]["state_dir"]),
            misfire_grace_seconds=top["schedule"]["misfire_grace_seconds"],
            coalesce=top["schedule"]["coalesce"],
        ),
        raw=data,
        engine=_check_engine(top, src),
    )
    config_checks.folders(config, src)
    config_checks.check_output_dir(config, src)
    return config


def _catalogue(cat: dict[str, Any]) -> tuple[dict[str, str], tuple[str, ...], tuple[str, ...]]:
    """Return the products (extras added), categories and platforms, the defaults where unset."""
    products = dict(cat["products"] if cat["products"] is not None else catalogue.DEFAULT_PRODUCTS)
    products.update(cat["extra_products"])
    categories = tuple(cat["categories"] or catalogue.DEFAULT_CATEGORIES)
    platforms = tuple(cat["platforms"] or catalogue.DEFAULT_PLATFORMS)
    return products, categories, platforms


def _presets(data: dict[str, Any], src: Located, vocab: dict) -> dict[str, Preset]:
    """Return the presets by name, each built over the checked defaults."""
    defaults_raw = data.get("defaults") or {}
    defaults = {
        k: check_preset_field(k, v, f"defaults.{k}", src, vocab) for k, v in defaults_raw.items()
    }
    presets: dict[str, Preset] = {}
    raw_presets = data.get("presets") or {}
    if not raw_presets:
        raise ConfigError(f"{src.where('presets')}: presets: define at least one preset")
    for name, body in raw_presets.items():
        kp = f"presets.{name}"
        if not _match_name(name):
            raise ConfigError(
                f"{src.where(kp)}: {kp}: preset names use letters, digits, '-', '_' and '.'"
            )
        config_checks.preset_name(name, src)
        if body is None:
            body = {}
        if not isinstance(body, dict):
            raise ConfigError(f"{src.where(kp)}: {kp}: expected a mapping of preset options")
        presets[name] = build_preset(name, body, defaults, src, vocab)
    return presets


def _source_config(source: dict[str, Any], root: Path, src: Located) -> SourceConfig:
    """Return the source settings: path resolved against root; tables, url and marks checked."""
    return SourceConfig(
        kind=source["kind"],
        path=_resolve(root, source["path"]),
        format=source["format"],
        files=_check_tables(source["files"], "source.files", src),
        url=_check_url(source, src),
        schema=source["schema"],
        password_env=source["password_env"],
        timeout=source["timeout"],
        tables=_check_tables(source["tables"], "source.tables", src),
        columns=_check_tables(source["columns"], "source.columns", src),
        values=source["values"],
        decimal=source["decimal"],
        thousands=_check_thousands(source, src),
        delimiter=source["delimiter"],
        allow_empty=tuple(source["allow_empty"]),
        simulate=SimulateConfig(**source["simulate"]),
    )


def _check_engine(top: dict[str, Any], src: Located) -> EngineConfig:
    """Return the engine settings; refuse an engine other than DuckDB over a database."""
    engine = top["engine"]
    if engine["kind"] != "duckdb" and top["source"]["kind"] == "sql":
        raise ConfigError(
            f"{src.where('engine.kind')}: engine.kind: {engine['kind']} reads folders of "
            "files; with source kind sql the database runs the queries: remove engine.kind"
        )
    return EngineConfig(**engine)


def _check_thousands(source: dict[str, Any], src: Located) -> str | None:
    """Return source.thousands, refusing the decimal mark as thousands separator too."""
    if source["thousands"] is not None and source["thousands"] == source["decimal"]:
        raise ConfigError(
            f"{src.where('source.thousands')}: source.thousands: {source['thousands']!r} is "
            "also source.decimal; a number needs two different marks"
        )
    return source["thousands"]


def _check_url(source: dict[str, Any], src: Located) -> str | None:
    """Return source.url, refusing a password in it and a kind: sql source without one."""
    from reportgen.sources.url import UrlError, parse_url

    url = source["url"]
    if url is None:
        if source["kind"] == "sql":
            raise ConfigError(
                f"{src.where('source')}: source.url: kind: sql needs a url, e.g. "
                "postgresql://user@host:5432/db or duckdb:///data/warehouse.duckdb"
            )
        return None
    try:
        parse_url(url)
    except UrlError as exc:
        raise ConfigError(f"{src.where('source.url')}: source.url: {exc}") from None
    return url


def _check_tables(mapping: dict[str, Any], kp: str, src: Located) -> dict[str, Any]:
    for table in mapping:
        if table not in ALL_TABLES:
            from reportgen.config.options import suggest

            raise ConfigError(
                f"{src.where(f'{kp}.{table}')}: {kp}.{table}: unknown table"
                f"{suggest(table, ALL_TABLES)}; tables: {', '.join(ALL_TABLES)}"
            )
    return mapping


def _resolve(root: Path, value: str | Path) -> Path:
    p = Path(value)
    return p if p.is_absolute() else root / p


def _match_name(name: str) -> bool:
    import re

    return re.fullmatch(NAME, name) is not None
