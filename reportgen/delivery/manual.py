"""Manual builds: `reportgen build` of config presets, guarded by the run ledger.

Kept apart from ``schedule`` (APScheduler, email) so that the command line's build, and above
all an unchanged rebuild that only reuses what is there, imports neither.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from datetime import date
from typing import Any

from reportgen.config import Config, Preset
from reportgen.delivery.ledger import Ledger
from reportgen.windows import default_as_of

logger = logging.getLogger(__name__)

#: What builds the reports: ``build.build``'s signature (tests pass fakes).
BuildFn = Callable[..., list[Any]]


def default_build(config: Config, **kwargs: Any) -> list[Any]:
    """Call the real pipeline; imported late so scheduling works while the build is replaced."""
    from reportgen.build import build

    return build(config, **kwargs)


def files_record(outputs: list[Any]) -> dict[str, Any]:
    """Return the JSON the ledger keeps about a build's outputs."""
    return {
        "outputs": [
            {
                "name": o.preset.name,
                "group": o.group,
                "directory": str(o.directory),
                "window": [o.window.start.isoformat(), o.window.end.isoformat()],
                "as_of": o.as_of.isoformat(),
                "files": {k: str(v) for k, v in o.files.items()},
            }
            for o in outputs
        ]
    }


def build_jobs(preset: Preset) -> list[Preset]:
    """Return what the build makes of a preset: itself, or one preset per group."""
    from reportgen.build import expand

    return expand([preset])


def build_presets(
    config: Config,
    names: list[str] | None,
    *,
    as_of: date | None,
    ledger: Ledger,
    build_fn: BuildFn | None = None,
    **build_args: Any,
) -> list[Any]:
    """`reportgen build` of config presets, guarded by the ledger; return the build's outputs.

    Every preset's window is claimed first (trigger ``manual``), all or none: if a scheduled
    run or a ``send`` holds one, RunBusy is raised and nothing is built. Then the presets are
    built together (one batch per as-of date, each batch computed in full before it writes),
    their files are recorded for the scheduler to reuse, and nothing is sent.
    """
    presets = list({p.name: p for p in config.select(names)}.values())
    days = {p.name: as_of or default_as_of(p.timezone) for p in presets}
    items = [(p.name, p.window_for(days[p.name]), days[p.name]) for p in presets]
    claims = ledger.claim_all(items, "manual")
    with contextlib.ExitStack() as stack:
        for claim in claims:
            stack.enter_context(claim)  # marks every claim failed if the build raises
        outputs: list[Any] = []
        for day in sorted(set(days.values())):
            batch = [p.name for p in presets if days[p.name] == day]
            outputs += (build_fn or default_build)(config, presets=batch, as_of=day, **build_args)
        for claim, preset in zip(claims, presets, strict=True):
            names_built = {job.name for job in build_jobs(preset)}
            mine = [o for o in outputs if o.preset.name in names_built]
            claim.finish("succeeded", files=files_record(mine))
    return outputs
