"""Preset expansion: a preset's options checked, the defaults and the catalogue's vocabularies
applied, its recipient groups built; and the ad hoc preset of CLI flags."""

from __future__ import annotations

from typing import Any

from reportgen.config import checks as config_checks
from reportgen.config.fields import FORMATS, PRESET_FIELDS
from reportgen.config.options import Invalid, ListOf, Option, Section, Vocabulary
from reportgen.config.settings import Config, Filters, Group, Preset
from reportgen.config.values import check_option
from reportgen.config.yamlsrc import Located
from reportgen.errors import ConfigError
from reportgen.model import Window


def ad_hoc_preset(
    name: str,
    window: Window,
    *,
    brands: list[str],
    categories: list[str],
    platforms: list[str],
    config: Config,
    timezone: str | None = None,
    data_vocabulary: dict[str, set[str]] | None = None,
) -> Preset:
    """Build a preset from CLI flags, checked against the config's vocabularies.

    ``data_vocabulary`` adds the values an ad hoc data folder holds, so that a filter on a
    category or brand the config does not declare still works for that folder.
    """
    vocab = {"brand": config.brands, "category": config.categories, "platform": config.platforms}
    for key, values in (data_vocabulary or {}).items():
        vocab[key] = tuple(dict.fromkeys([*vocab[key], *sorted(values)]))
    flags = {"brands": brands, "categories": categories, "platforms": platforms}
    checked = {key: _checked_flag(key, values, vocab) for key, values in flags.items()}
    base = next(iter(config.presets.values()), None)
    return Preset(
        name=name,
        title=f"Ad hoc report {window.label()}",
        description="",
        window=window,
        timezone=timezone or (base.timezone if base else "Asia/Kolkata"),
        currency=base.currency if base else "INR",
        locale=base.locale if base else "en_IN",
        filters=Filters(
            tuple(checked["brands"]), tuple(checked["categories"]), tuple(checked["platforms"])
        ),
        formats=FORMATS,
        send={"skip_if_empty": True, "only_if_any": [], "revenue_drop_pct": 20.0},
    )


def _checked_flag(key: str, values: list[str], vocab: dict) -> list[str]:
    """Return a filter flag's values checked against ``vocab``; name the flag when one is not."""
    try:
        return [_vocab_check(PRESET_FIELDS[key], v, vocab) for v in values]
    except Invalid as exc:
        flag = key[:-1] if key != "categories" else "category"
        raise ConfigError(f"--{flag}: {exc.message}") from None


def build_preset(
    name: str, body: dict[str, Any], defaults: dict[str, Any], src: Located, vocab: dict
) -> Preset:
    """Return preset ``name`` built from its body, the checked defaults and the vocabularies."""
    kp = f"presets.{name}"
    values = _preset_values(kp, body, defaults, src, vocab)
    groups = _groups(values["groups"], kp, src)
    if not values["formats"]:
        raise ConfigError(f"{src.where(f'{kp}.formats')}: {kp}.formats: list at least one format")
    values["attach"] = config_checks.attach(name, body, defaults, values, src)
    return Preset(
        name=name,
        title=values["title"] or name.replace("-", " ").replace("_", " ").title(),
        description=values["description"],
        window=values["window"],
        timezone=values["timezone"],
        currency=values["currency"],
        locale=values["locale"],
        filters=Filters(
            tuple(values["brands"]), tuple(values["categories"]), tuple(values["platforms"])
        ),
        formats=tuple(dict.fromkeys(values["formats"])),
        top_n=values["top_n"],
        schedule=values["schedule"],
        missed=values["missed"],
        to=tuple(values["to"]),
        cc=tuple(values["cc"]),
        bcc=tuple(values["bcc"]),
        owners=tuple(values["owners"]),
        attach=tuple(values["attach"]),
        sections=_unique(values["sections"], f"{kp}.sections", src),
        attribution=values["attribution"],
        send=values["send"],
        groups=groups,
        compare=values["compare"],
        roas_min_payout=values["roas_min_payout"],
    )


def _preset_values(
    kp: str, body: dict[str, Any], defaults: dict[str, Any], src: Located, vocab: dict
) -> dict[str, Any]:
    """Return every preset option: the body's checked, else the default's, else the built-in."""
    values: dict[str, Any] = {}
    for key in body:
        if key not in PRESET_FIELDS:
            from reportgen.config.options import suggest

            hint = suggest(key, list(PRESET_FIELDS))
            raise ConfigError(
                f"{src.where(f'{kp}.{key}')}: {kp}.{key}: unknown key{hint}; "
                f"allowed: {', '.join(PRESET_FIELDS)}"
            )
        values[key] = check_preset_field(key, body[key], f"{kp}.{key}", src, vocab)
    for key, opt in PRESET_FIELDS.items():
        if key not in values:
            if key in defaults:
                values[key] = defaults[key]
            else:
                values[key] = opt.default() if callable(opt.default) else opt.default
    return values


def _groups(raw: list[dict[str, Any]], kp: str, src: Located) -> tuple[Group, ...]:
    """Return a preset's recipient groups, refusing two groups of one name."""
    groups = tuple(
        Group(
            name=g["name"],
            filters=Filters(tuple(g["brands"]), tuple(g["categories"]), tuple(g["platforms"])),
            to=tuple(g["to"]),
            cc=tuple(g["cc"]),
            bcc=tuple(g["bcc"]),
        )
        for g in raw
    )
    if len({g.name for g in groups}) != len(groups):
        raise ConfigError(f"{src.where(f'{kp}.groups')}: {kp}.groups: group names must be unique")
    return groups


def check_preset_field(key: str, value: Any, kp: str, src: Located, vocab: dict) -> Any:
    """Return one preset field's checked value; unknown keys and bad values raise ConfigError."""
    opt = PRESET_FIELDS.get(key)
    if opt is None:
        from reportgen.config.options import suggest

        raise ConfigError(
            f"{src.where(kp)}: {kp}: unknown key{suggest(key, list(PRESET_FIELDS))}; "
            f"allowed: {', '.join(PRESET_FIELDS)}"
        )
    value = check_option(opt, value, kp, src)
    return _apply_vocab(opt, value, kp, src, vocab)


def _apply_vocab(opt: Option, value: Any, kp: str, src: Located, vocab: dict) -> Any:
    """Check brand/category/platform names, which depend on the catalogue."""
    if isinstance(opt, ListOf) and isinstance(opt.item, Vocabulary):
        out = []
        for i, v in enumerate(value):
            try:
                out.append(_vocab_check(opt, v, vocab))
            except Invalid as exc:
                raise ConfigError(f"{src.where(f'{kp}[{i}]')}: {kp}[{i}]: {exc.message}") from None
        return out
    if isinstance(opt, ListOf) and isinstance(opt.item, Section):
        return [
            {
                k: _apply_vocab(opt.item.fields[k], v, f"{kp}[{i}].{k}", src, vocab)
                for k, v in item.items()
            }
            for i, item in enumerate(value)
        ]
    return value


def _vocab_check(opt: Any, value: Any, vocab: dict) -> str:
    item = opt.item
    return item.check_in(value, vocab[item.vocabulary])


def _unique(items: list[str], kp: str, src: Located) -> tuple[str, ...]:
    """Return ``items`` as a tuple, refusing an empty list or a repeat."""
    if not items:
        raise ConfigError(f"{src.where(kp)}: {kp}: list at least one section")
    twice = sorted({i for i in items if items.count(i) > 1})
    if twice:
        raise ConfigError(f"{src.where(kp)}: {kp}: {twice[0]!r} is listed twice; list it once")
    return tuple(items)
