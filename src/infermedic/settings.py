"""Settings from `[tool.infermedic]` in pyproject.toml (or `--config FILE`), frozen.

Precedence, lowest first: built-in defaults, the config file, `INFERMEDIC_*` environment
variables and command-line flags (the CLI merges the last two through click).

```toml
[tool.infermedic]
select = ["SVC", "DKR"]
ignore = ["PKG001"]
fail-on = "high"

[tool.infermedic.rules.PKG001]      # per-rule options, read by the rule
packages = ["torch", "scikit-learn"]

[tool.infermedic.drift]             # per-engine options
alpha = 0.05
```
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from infermedic.errors import ConfigError
from infermedic.model import Severity

KNOWN_TOP_LEVEL = frozenset(
    {
        "select",
        "ignore",
        "fail-on",
        "exclude",
        "rules",
        "audit",
        "probe",
        "drift",
        "profile",
        "diagnose",
        "demo",
        "registry",
    }
)


@dataclass(frozen=True, kw_only=True)
class Settings:
    """What a run is configured with. Engines read only this, never the environment."""

    select: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()
    fail_on: Severity = Severity.HIGH
    exclude: tuple[str, ...] = ()  # glob patterns of paths audit skips
    rule_options: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    engine_options: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    source: str | None = None  # the file the settings came from, for messages

    def options_for_rule(self, code: str) -> Mapping[str, Any]:
        return self.rule_options.get(code, {})

    def options_for_engine(self, engine: str) -> Mapping[str, Any]:
        return self.engine_options.get(engine, {})

    def override(
        self,
        *,
        select: Sequence[str] | None = None,
        ignore: Sequence[str] | None = None,
        fail_on: Severity | None = None,
    ) -> Settings:
        """Settings with command-line values laid over the file's (a given list replaces).
        Every entry must match a rule: a typo is a `ConfigError` with a did-you-mean, never a
        run that silently judges nothing."""
        if select or ignore:
            from infermedic.rules import Registry

            Registry.default().select(
                [s for s in (select or ()) if s.upper() != "ALL"] or (), ignore or ()
            )
        return replace(
            self,
            select=tuple(select) if select else self.select,
            ignore=tuple(ignore) if ignore else self.ignore,
            fail_on=fail_on if fail_on is not None else self.fail_on,
        )


def load_settings(config: Path | None = None, *, start: Path | None = None) -> Settings:
    """Read settings from `config`, or from the nearest pyproject.toml with a
    `[tool.infermedic]` table above `start` (default: the working directory)."""
    if config is not None:
        if not config.is_file():
            raise ConfigError(f"config file {config} does not exist")
        table = _read_table(config, required=config.name != "pyproject.toml")
        return _from_table(table, source=str(config))
    here = (start or Path.cwd()).resolve()
    for directory in (here, *here.parents):
        candidate = directory / "pyproject.toml"
        if candidate.is_file():
            table = _read_table(candidate, required=False)
            if table:
                return _from_table(table, source=str(candidate))
    return Settings()


def _read_table(path: Path, *, required: bool) -> dict[str, Any]:
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config file {path}: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from exc
    if path.name == "pyproject.toml":
        table = document.get("tool", {}).get("infermedic", {})
    else:  # infermedic.toml: the table is the whole file, or [tool.infermedic] inside it
        table = document.get("tool", {}).get("infermedic", document)
    if required and not isinstance(table, dict):
        raise ConfigError(f"config file {path} has no [tool.infermedic] table")
    return table if isinstance(table, dict) else {}


def _from_table(table: Mapping[str, Any], *, source: str) -> Settings:
    unknown = sorted(set(table) - KNOWN_TOP_LEVEL)
    if unknown:
        raise ConfigError(
            f"{source}: unknown key(s) in [tool.infermedic]: {', '.join(unknown)}",
            hint=f"known keys: {', '.join(sorted(KNOWN_TOP_LEVEL))}",
        )
    fail_on_text = table.get("fail-on", "high")
    try:
        fail_on = Severity.parse(str(fail_on_text))
    except ValueError as exc:
        raise ConfigError(f"{source}: fail-on: {exc}") from exc
    rules = table.get("rules", {})
    if not isinstance(rules, dict) or not all(isinstance(v, dict) for v in rules.values()):
        raise ConfigError(f"{source}: [tool.infermedic.rules] must hold one table per rule code")
    engines = {
        name: dict(table[name])
        for name in ("audit", "probe", "drift", "profile", "diagnose", "demo", "registry")
        if isinstance(table.get(name), dict)
    }
    if "registry" in engines:  # its keys are checked now: a typo must not pass silently
        from infermedic.registry.options import RegistryOptions

        RegistryOptions.from_mapping(engines["registry"], source=source)
    return Settings(
        select=_string_list(table, "select", source),
        ignore=_string_list(table, "ignore", source),
        exclude=_string_list(table, "exclude", source),
        fail_on=fail_on,
        rule_options={code.upper(): dict(opts) for code, opts in rules.items()},
        engine_options=engines,
        source=source,
    )


def _string_list(table: Mapping[str, Any], key: str, source: str) -> tuple[str, ...]:
    value = table.get(key, [])
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{source}: `{key}` must be a list of strings")
    return tuple(value)
