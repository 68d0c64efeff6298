"""Docker and the locks as docs/operations.md#docker promises them, checked without a Docker
engine: Compose refuses to start without its secrets, the demo needs none, base images are pinned
by version and digest, and the lock files pin, with hashes, everything pyproject.toml asks for."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = ROOT / "docker-compose.yml"
DEMO = ROOT / "docker-compose.demo.yml"
LOCKS = ROOT / "requirements"
REQUIRED = ("POSTGRES_PASSWORD", "SES_GATEWAY_SECRET_KEY", "SES_GATEWAY_HOSTNAME")
VARIABLE = re.compile(r"\$\{(\w+)(?:(:?[-?])([^}]*))?\}")


class MissingVariable(Exception):
    pass


def interpolate(value: Any, env: dict[str, str]) -> Any:
    """Compose's `${VAR}`, `${VAR:-default}` and `${VAR:?message}`, through a loaded file."""
    if isinstance(value, dict):
        return {key: interpolate(item, env) for key, item in value.items()}
    if isinstance(value, list):
        return [interpolate(item, env) for item in value]
    if not isinstance(value, str):
        return value

    def one(match: re.Match[str]) -> str:
        name, operator, argument = match.groups()
        found = env.get(name)
        if operator in (":?", "?") and not found:
            raise MissingVariable(f"{name}: {argument}")
        if operator in (":-", "-") and not found:
            return argument
        return found or ""

    return VARIABLE.sub(one, value)


def load(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def environment(service: dict[str, Any]) -> dict[str, str | None]:
    entries = service["environment"]
    assert isinstance(entries, list)
    return {name: value or None for name, _, value in (e.partition("=") for e in entries)}


@pytest.mark.parametrize("missing", REQUIRED)
def test_compose_refuses_to_start_without_each_secret(missing: str) -> None:
    env = {name: "set" for name in REQUIRED if name != missing}
    with pytest.raises(MissingVariable) as caught:
        interpolate(load(COMPOSE), env)
    assert str(caught.value).startswith(f"{missing}: set {missing}")


def test_compose_gives_the_gateway_its_secrets_and_no_defaults() -> None:
    text = COMPOSE.read_text(encoding="utf-8")
    for name in REQUIRED:
        assert f"${{{name}:-" not in text, f"{name} has a default"
    env = {"POSTGRES_PASSWORD": "pw", "SES_GATEWAY_SECRET_KEY": "k", "SES_GATEWAY_HOSTNAME": "h"}
    services = interpolate(load(COMPOSE), env)["services"]
    gateway = environment(services["gateway"])
    assert (
        gateway["SES_GATEWAY_DATABASE_URL"]
        == "postgresql+asyncpg://gateway:pw@postgres:5432/gateway"
    )
    assert (gateway["SES_GATEWAY_SECRET_KEY"], gateway["SES_GATEWAY_HOSTNAME"]) == ("k", "h")
    assert services["postgres"]["environment"]["POSTGRES_PASSWORD"] == "pw"


def test_the_demo_runs_dev_mode_with_the_emulator_and_needs_no_variables() -> None:
    demo = interpolate(load(DEMO), {})["services"]["demo"]
    assert demo["command"] == ["ses-gateway", "serve", "--dev"]
    assert demo["build"]["args"]["LOCK"] == "emulator"
    assert demo["image"] != load(COMPOSE)["services"]["gateway"]["image"]
    assert all(port.startswith("127.0.0.1:") for port in demo["ports"])


def test_base_images_are_pinned_by_version_and_digest() -> None:
    pinned = re.compile(r"^[\w./-]+:\d+\.\d+(\.\d+)?-[\w.-]+@sha256:[0-9a-f]{64}$")
    froms = re.findall(r"^FROM (\S+)", (ROOT / "Dockerfile").read_text(), re.MULTILINE)
    images = [s["image"] for s in load(COMPOSE)["services"].values() if "build" not in s]
    assert froms
    assert images
    for image in froms + images:
        assert pinned.match(image), image


def pins(lock: str) -> dict[str, str]:
    """A lock's `name==version` lines (each pinned with hashes), by normalised name."""
    text = (LOCKS / lock).read_text(encoding="utf-8")
    found: dict[str, str] = {}
    for block in re.split(r"\n(?=\S)", text):
        match = re.match(r"([A-Za-z0-9._-]+)==(\S+)", block)
        if match:
            assert "--hash=sha256:" in block, f"{lock}: {match[1]} has no hash"
            found[normalise(match[1])] = match[2]
    return found


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def wanted(*extras: str) -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    requirements = list(project["project"]["dependencies"])
    requirements += project["build-system"]["requires"]
    for extra in extras:
        requirements += project["project"]["optional-dependencies"][extra]
    names = {normalise(re.split(r"[^A-Za-z0-9._-]", r, maxsplit=1)[0]) for r in requirements}
    return names - {"ses-gateway"}


@pytest.mark.parametrize(
    ("lock", "extras"),
    [("runtime.lock", ()), ("emulator.lock", ("emulator",)), ("dev.lock", ("emulator", "test"))],
)
def test_each_lock_pins_what_pyproject_asks_for(lock: str, extras: tuple[str, ...]) -> None:
    missing = wanted(*extras) - set(pins(lock))
    assert not missing, f"requirements/{lock} lacks {sorted(missing)}: run scripts/lock"


def test_a_package_has_one_version_in_every_lock() -> None:
    dev = pins("dev.lock")
    for lock in ("runtime.lock", "emulator.lock"):
        differ = {name: v for name, v in pins(lock).items() if dev.get(name) != v}
        assert not differ, f"requirements/{lock} differs from dev.lock: {differ}"


def test_the_image_and_scripts_install_use_the_locks() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    install = (ROOT / "scripts" / "install").read_text()
    for text in (dockerfile, install):
        assert "--require-hashes -r" in text
        assert "--no-deps --no-build-isolation" in text
    assert "ARG LOCK=runtime" in dockerfile
    assert "requirements/dev.lock" in install
    assert "requirements/emulator.lock" in install


def test_the_test_tools_caches_are_ignored() -> None:
    ignored = set((ROOT / ".gitignore").read_text().splitlines())
    assert {".schemathesis/", ".hypothesis/", ".pytest_cache/", ".import_linter_cache/"} <= ignored


def test_the_example_proxy_sends_sns_and_the_links_to_the_published_port() -> None:
    caddy = (ROOT / "deploy" / "Caddyfile").read_text()
    published = [p for p in load(COMPOSE)["services"]["gateway"]["ports"] if p.endswith(":8025")]
    assert published == ["127.0.0.1:8025:8025"]
    assert "reverse_proxy 127.0.0.1:8025" in caddy
    for path in ("/sns/ses", "/t/", "/u/", "PUBLIC_URL"):
        assert path in caddy


def glob_pattern(glob: str) -> re.Pattern[str]:
    """setuptools' package-data glob: `*` within a folder, `**/` any folders, or none."""
    pattern = re.escape(glob).replace(r"\*\*/", "(?:.*/)?").replace(r"\*", "[^/]*")
    return re.compile(pattern + "$")


def test_every_file_of_the_packages_is_installed() -> None:
    """A non-editable install (the Docker image) gets `.py` files and `package-data` only: the
    panel's templates and assets must be listed there, or the image has no panel."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    package_data = {
        ROOT.joinpath(*name.split(".")): [glob_pattern(glob) for glob in globs]
        for name, globs in project["tool"]["setuptools"]["package-data"].items()
    }
    left_out = []
    for package in ("gateway", "admin", "config"):
        for path in (ROOT / package).rglob("*"):
            if not path.is_file() or path.suffix in (".py", ".pyc"):
                continue
            if not any(
                pattern.match(path.relative_to(folder).as_posix())
                for folder, patterns in package_data.items()
                if path.is_relative_to(folder)
                for pattern in patterns
            ):
                left_out.append(path.relative_to(ROOT).as_posix())
    assert not left_out, f"not in [tool.setuptools.package-data]: {left_out}"
