"""Reproducible installs: constraints.txt pins every dependency, and the tests run on those pins."""

from __future__ import annotations

import tomllib
from importlib import metadata

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.conftest import ROOT


def pins() -> dict[str, str]:
    """Return constraints.txt as {canonical name: exact version}."""
    out = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            req = Requirement(line)
            [spec] = req.specifier
            assert spec.operator == "==", f"constraints.txt: {line}: pin an exact version"
            out[canonicalize_name(req.name)] = spec.version
    return out


def declared() -> list[Requirement]:
    """Return every requirement pyproject.toml declares, extras included."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"].values()
    return [Requirement(r) for r in [*project["dependencies"], *(r for e in extras for r in e)]]


def test_every_declared_dependency_is_pinned_within_its_range():
    locked = pins()
    assert "reportgen" not in locked, "constraints.txt must not pin reportgen itself"
    for req in declared():
        name = canonicalize_name(req.name)
        assert name in locked, (
            f"{req.name} is not in constraints.txt; run scripts/refresh-constraints.sh"
        )
        assert req.specifier.contains(locked[name], prereleases=True), (
            f"constraints.txt pins {req.name}=={locked[name]} outside pyproject's {req.specifier}"
        )


def test_the_environment_is_the_locked_one():
    # The tests are only evidence for constraints.txt when they ran on exactly those versions.
    wrong = {}
    for req in declared():
        name = canonicalize_name(req.name)
        installed = metadata.version(req.name)
        if installed != pins()[name]:
            wrong[req.name] = (installed, pins()[name])
    assert not wrong, f"installed != constraints.txt: {wrong}; run ./setup.sh"
