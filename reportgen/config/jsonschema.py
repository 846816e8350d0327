"""The JSON Schema of config.yaml, generated from the option declarations (``reportgen schema``).

Editors use it to complete and check config.yaml as it is typed (yaml-language-server reads a
first line ``# yaml-language-server: $schema=config.schema.json``). It says what JSON Schema
can say; `reportgen validate` remains the full check (brands known to the catalogue, cron
fields, timezones).
"""

from __future__ import annotations

import json
import logging
from typing import Any

from reportgen import __version__
from reportgen.config import PRESET_FIELDS, TOP_FIELDS

logger = logging.getLogger(__name__)

DRAFT = "https://json-schema.org/draft/2020-12/schema"


def json_schema() -> dict[str, Any]:
    """Return the JSON Schema (draft 2020-12) of config.yaml."""
    preset = {
        "type": ["object", "null"],  # `name:` alone is a preset with every default
        "description": "One report: its window, filters, formats, schedule and recipients.",
        "properties": {key: opt.schema() for key, opt in PRESET_FIELDS.items()},
        "additionalProperties": False,
    }
    return {
        "$schema": DRAFT,
        "$id": f"https://reportgen.invalid/config-{__version__}.schema.json",
        "title": "reportgen config.yaml",
        "description": "Presets to build, where the data comes from, and how reports are sent.",
        "type": "object",
        "properties": {key: opt.schema() for key, opt in TOP_FIELDS.items()},
        "required": ["presets"],  # validation refuses a config without one
        "additionalProperties": False,
        "$defs": {"preset": preset},
    }


def dumps() -> str:
    """Return the schema as indented JSON text with a final newline."""
    return json.dumps(json_schema(), indent=2, ensure_ascii=False) + "\n"
