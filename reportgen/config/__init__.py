"""The config schema: every option with a one-line doc, checked before anything is built.

Errors read ``config.yaml:12: presets.weekly.brands[0]: unknown brand 'MuscleBlast' ...``.

Every public name is imported from here. The schema's modules: ``fields`` (every option, with
its one-line doc and default, and the vocabularies they allow), ``settings`` (the typed config:
the frozen dataclasses a checked config becomes), ``values`` (checks of one option's value),
``presets`` (preset expansion: defaults, vocabularies, groups, and ad hoc presets) and
``loading`` (``load``, ``loads``: YAML to a checked ``Config``); beside them ``options`` (option
types), ``checks`` (checks across keys), ``yamlsrc``, ``jsonschema`` and ``catalogue``.
"""

from __future__ import annotations

import logging

from reportgen.config.fields import (
    ALL_TABLES,
    ATTACH,
    ATTRIBUTION_MODELS,
    DEFAULT_MIN_PAYOUT,
    EMAIL_SCHEMA,
    EMAILS,
    ENGINE_FIELDS,
    ENV_NAME,
    FORMATS,
    NAME,
    PRESET_FIELDS,
    PRESET_REF,
    SECTIONS,
    SOURCE_FIELDS,
    STUDY_TABLES,
    TABLES,
    TOP_FIELDS,
    WINDOW_SCHEMA,
)
from reportgen.config.loading import from_located, load, loads
from reportgen.config.presets import ad_hoc_preset
from reportgen.config.settings import (
    Config,
    EmailConfig,
    EngineConfig,
    Filters,
    Group,
    Preset,
    ScheduleConfig,
    SimulateConfig,
    SourceConfig,
)
from reportgen.config.values import MASTER
from reportgen.errors import ConfigError

logger = logging.getLogger(__name__)

__all__ = [
    "ALL_TABLES",
    "ATTACH",
    "ATTRIBUTION_MODELS",
    "DEFAULT_MIN_PAYOUT",
    "EMAILS",
    "EMAIL_SCHEMA",
    "ENGINE_FIELDS",
    "ENV_NAME",
    "FORMATS",
    "MASTER",
    "NAME",
    "PRESET_FIELDS",
    "PRESET_REF",
    "SECTIONS",
    "SOURCE_FIELDS",
    "STUDY_TABLES",
    "TABLES",
    "TOP_FIELDS",
    "WINDOW_SCHEMA",
    "Config",
    "ConfigError",
    "EmailConfig",
    "EngineConfig",
    "Filters",
    "Group",
    "Preset",
    "ScheduleConfig",
    "SimulateConfig",
    "SourceConfig",
    "ad_hoc_preset",
    "from_located",
    "load",
    "loads",
]
