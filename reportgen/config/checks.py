"""Config checks across keys: what each key allows alone, but that fails later in combination.

Kept apart from the schema (config/fields.py, config/settings.py); each raises ConfigError naming file, line and key.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reportgen.errors import ConfigError

if TYPE_CHECKING:
    from reportgen.config import Config
    from reportgen.config.yamlsrc import Located

logger = logging.getLogger(__name__)

#: Files reportgen writes at the top of output/: a preset folder must not take their name.
OUTPUT_FILES = ("index.html", "manifest.json")
#: Folder names of ad hoc builds (`build --from A --to B`), which share output/ with presets.
AD_HOC_NAME = re.compile(r"adhoc-\d{4}-\d\d-\d\d-\d{4}-\d\d-\d\d", re.IGNORECASE)


def preset_name(name: str, src: Located) -> None:
    """Refuse a preset name whose folder would collide with what else is in output/."""
    kp = f"presets.{name}"
    if name.lower() in OUTPUT_FILES:
        raise ConfigError(
            f"{src.where(kp)}: {kp}: the name {name!r} is taken by output/{name.lower()}, "
            "which lists every build; choose another preset name"
        )
    if AD_HOC_NAME.fullmatch(name):
        raise ConfigError(
            f"{src.where(kp)}: {kp}: names like {name!r} are the folders of ad hoc builds "
            "(`reportgen build --from --to`); choose another preset name"
        )


def folders(config: Config, src: Located) -> None:
    """Refuse presets (or their groups) that would share an output folder."""
    seen: dict[str, str] = {}
    for name, preset in config.presets.items():
        names = [(name, f"presets.{name}")]
        names += [
            (f"{name}.{g.name}", f"presets.{name}.groups[{i}].name")
            for i, g in enumerate(preset.groups)
        ]
        for folder, kp in names:
            other = seen.get(folder.lower())
            if other is not None:
                raise ConfigError(
                    f"{src.where(kp)}: {kp}: its reports would go to output/{folder}/, like "
                    f"those of {other} (names are compared ignoring case); rename one of them"
                )
            seen[folder.lower()] = kp


def attach(
    name: str, body: dict[str, Any], defaults: dict[str, Any], values: dict[str, Any], src: Located
) -> list[str]:
    """Return the preset's attachments, refusing ones its formats do not make.

    Without an ``attach`` of its own (or in ``defaults``) a preset attaches its PDF if it makes
    one, and nothing otherwise: the email still carries the figures and a link.
    """
    formats = values["formats"]
    if "attach" in body:
        kp = f"presets.{name}.attach"
    elif "attach" in defaults:
        kp = "defaults.attach"
    else:
        return [k for k in ("pdf",) if k in formats]
    for i, kind in enumerate(values["attach"]):
        if kind not in formats:
            raise ConfigError(
                f"{src.where(f'{kp}[{i}]')}: {kp}[{i}]: preset {name} attaches {kind}, but its "
                f"formats ({', '.join(formats)}) make no {kind}, so every email would fail; "
                f"add {kind} to presets.{name}.formats or remove it from attach"
            )
    return values["attach"]


def output_dir(out: Path, config: Config) -> str | None:
    """Return why ``out`` cannot be the output folder, or None when it can."""
    # output/ gets index.html, manifest.json and a folder per preset: the root of the disk,
    # the home or project folder, or the data folder would be written over or mixed with it.
    here = _real(out)
    places = (
        (Path.home(), "the home folder"),
        (config.root, "the project folder (where the config is)"),
        (config.source.path, "the data folder (source.path)"),
    )
    if here == Path(here.anchor):
        return "it is the root of the file system"
    for place, label in places:
        there = _real(place)
        if there == here:
            return f"it is {label}"
        if there.is_relative_to(here):
            return f"it holds {label}, {there}"
    state = _real(config.schedule.state_dir)
    if state.is_relative_to(here):
        return (
            f"it holds schedule.state_dir ({state}), whose run ledger lists every recipient "
            "and must not be published"
        )
    return None


def check_output_dir(config: Config, src: Located) -> None:
    """Refuse an output.dir that would write over or publish something else."""
    problem = output_dir(config.output_dir, config)
    if problem:
        raise ConfigError(
            f"{src.where('output.dir')}: output.dir: {config.output_dir}: {problem}; use a "
            "folder of its own, such as output"
        )


def _real(path: Path) -> Path:
    return Path(path).expanduser().resolve()
