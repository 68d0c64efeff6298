"""docs/architecture.md describes the code as it is: every module of ours is named there, and
every module it names exists. (Which package may import what is checked by `lint-imports`,
from the contracts in pyproject.toml.)"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "architecture.md"
PACKAGES = ("gateway", "admin", "config")


def modules() -> set[str]:
    """Every module of ours, as a path from the repository root; Alembic's revisions and the
    packages' `__init__.py` files (the stages, described by their own rows) aside."""
    found = set()
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            relative = path.relative_to(ROOT).as_posix()
            if "/migrations/" in relative or path.name == "__init__.py":
                continue
            found.add(relative)
    return found


def named() -> set[str]:
    return set(re.findall(r"`((?:gateway|admin|config)/[\w/]+\.py)`", DOC.read_text()))


def test_every_module_is_in_the_architecture_document() -> None:
    missing = sorted(modules() - named())
    assert missing == [], f"docs/architecture.md does not name: {', '.join(missing)}"


def test_every_module_the_document_names_exists() -> None:
    stale = sorted(p for p in named() if not (ROOT / p).is_file())
    assert stale == [], f"docs/architecture.md names modules that do not exist: {stale}"
