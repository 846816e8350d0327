"""The Jinja environment of the templates, and rendering one template with one-line errors.

Templates are looked up first in the user's override folder (the project's ``templates/``),
then in the shipped ``reportgen/templates/``, so a user can replace one partial such as
``_kpis.html`` without copying the rest. Also the folders of the shipped templates and assets.
"""

from __future__ import annotations

import logging
import traceback
from pathlib import Path
from typing import Any

import jinja2

from reportgen.errors import RenderError
from reportgen.report import fmt

logger = logging.getLogger(__name__)

TEMPLATES_DIR = Path(__file__).parent.parent / "templates"
ASSETS_DIR = Path(__file__).parent.parent / "assets"


def make_environment(user_dir: Path | None = None) -> jinja2.Environment:
    """Return the Jinja environment: user overrides before shipped templates, autoescaped."""
    loaders: list[jinja2.BaseLoader] = []
    if user_dir is not None and Path(user_dir).is_dir():
        loaders.append(jinja2.FileSystemLoader(str(Path(user_dir).resolve())))
    elif user_dir is not None:
        logger.debug("no template override folder %s; using the shipped templates", user_dir)
    loaders.append(jinja2.FileSystemLoader(str(TEMPLATES_DIR)))
    env = jinja2.Environment(
        loader=jinja2.ChoiceLoader(loaders),
        autoescape=jinja2.select_autoescape(["html", "xml"], default_for_string=True),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    fmt.register(env)
    return env


def template_dirs(env: jinja2.Environment) -> list[Path]:
    """Return the folders ``env`` loads templates from, overrides first."""
    loader = env.loader
    loaders = loader.loaders if isinstance(loader, jinja2.ChoiceLoader) else [loader]
    dirs: list[Path] = []
    for item in loaders:
        if isinstance(item, jinja2.FileSystemLoader):
            dirs.extend(Path(p) for p in item.searchpath)
    return dirs


def render_template(env: jinja2.Environment, name: str, ctx: dict[str, Any]) -> str:
    """Render template ``name``; template mistakes become one-line RenderErrors with file:line."""
    try:
        return env.get_template(name).render(ctx)
    except jinja2.TemplateSyntaxError as exc:
        where = f"{exc.filename or exc.name or name}:{exc.lineno}"
        raise RenderError(f"template {where}: {exc.message}") from None
    except jinja2.TemplateNotFound as exc:
        raise RenderError(f"template {exc.name} not found in {_dirs_text(env)}") from None
    except jinja2.TemplateError as exc:
        raise RenderError(f"template {_template_frame(exc) or name}: {exc}") from None


def _dirs_text(env: jinja2.Environment) -> str:
    return ", ".join(str(d) for d in template_dirs(env))


def _template_frame(exc: BaseException) -> str | None:
    """Return "file:line" of the innermost template frame of ``exc``'s traceback."""
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        if not frame.filename.endswith(".py"):
            return f"{frame.filename}:{frame.lineno}"
    return None
