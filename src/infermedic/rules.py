"""Rule metadata, the base class every rule derives from, and the registry of all rules.

A rule is one class in one module; its docstring is its documentation. Each domain lists its
rules in one explicit `RULES` tuple (no import-time registration); `Registry.default()` joins
those tuples and validates them.
"""

from __future__ import annotations

import importlib
import inspect
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import cache
from typing import Any, ClassVar

from infermedic.errors import ConfigError, did_you_mean
from infermedic.model import (
    Effect,
    Evidence,
    Finding,
    Location,
    Severity,
)

CODE_PATTERN = re.compile(r"^[A-Z][A-Z0-9]{1,4}\d{3}$")
NAME_PATTERN = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")
CHECKLIST_PATTERN = re.compile(r"^D-\d{2}(/\d{2})?$")

STATIC_SECTIONS = ("What it does", "Why is this bad?", "Example")
MEASURED_SECTIONS = ("What it does", "Why is this bad?", "How it's measured")

# The modules whose `RULES` tuples make up the catalogue, in catalogue order.
DOMAIN_RULE_MODULES = (
    "infermedic.audit.python.rules",
    "infermedic.audit.dockerfile.rules",
    "infermedic.audit.k8s.rules",
    "infermedic.audit.deps.rules",
    "infermedic.audit.repo.rules",
    "infermedic.probe.rules",
    "infermedic.drift.rules",
    "infermedic.profile.rules",
    "infermedic.registry.rules",
)


class Rule:
    """Base of every rule. Subclasses set the class attributes and write the docstring.

    `measured` rules (LIVE, DRIFT, PROF) document `## How it's measured` instead of an
    `## Example`. Engines build findings through `finding()`, so code, name, severity,
    checklist and fix defaults come from the class.
    """

    code: ClassVar[str]
    name: ClassVar[str]
    severity: ClassVar[Severity]
    summary: ClassVar[str]  # one line: what the finding means
    fix: ClassVar[str] = ""  # imperative default fix
    risk: ClassVar[str] = ""  # one line: what it costs a serving system
    checklist: ClassVar[tuple[str, ...]] = ()
    measured: ClassVar[bool] = False

    def finding(
        self,
        location: Location,
        message: str,
        *,
        evidence: Iterable[Evidence] = (),
        severity: Severity | None = None,
        fix: str | None = None,
        risk: str | None = None,
        fingerprint_key: str = "",
        effect: Effect | None = None,
    ) -> Finding:
        cls = type(self)
        return Finding(
            effect=effect,
            code=cls.code,
            name=cls.name,
            severity=cls.severity if severity is None else severity,
            message=message,
            location=location,
            evidence=tuple(evidence),
            risk=cls.risk if risk is None else risk,
            fix=cls.fix if fix is None else fix,
            checklist=cls.checklist,
            fingerprint_key=fingerprint_key,
        )

    @classmethod
    def doc(cls) -> str:
        return inspect.cleandoc(cls.__doc__ or "")

    @classmethod
    def sections(cls) -> dict[str, str]:
        return parse_sections(cls.doc())

    @classmethod
    def prefix(cls) -> str:
        return cls.code.rstrip("0123456789")


def parse_sections(doc: str) -> dict[str, str]:
    """Split a rule docstring into its `## Heading` sections, in order."""
    sections: dict[str, str] = {}
    current: str | None = None
    lines: list[str] = []
    for line in doc.splitlines():
        if line.startswith("## "):
            if current is not None:
                sections[current] = "\n".join(lines).strip()
            current = line[3:].strip()
            lines = []
        elif current is not None:
            lines.append(line)
    if current is not None:
        sections[current] = "\n".join(lines).strip()
    return sections


def code_blocks(text: str) -> list[tuple[str, str]]:
    """The fenced code blocks of a docs section as (language, body) pairs."""
    return [
        (m.group(1), m.group(2))
        for m in re.finditer(r"```([\w.+-]*)\n(.*?)```", text, flags=re.DOTALL)
    ]


def validate_rule(rule: type[Rule]) -> list[str]:
    """Problems with one rule's metadata and docs; empty when it is well formed."""
    label = getattr(rule, "code", rule.__name__)
    problems = [
        f"{label}: missing class attribute `{attr}`"
        for attr in ("code", "name", "severity", "summary")
        if not hasattr(rule, attr)
    ]
    if problems:
        return problems
    if not CODE_PATTERN.match(rule.code):
        problems.append(f"{label}: code does not look like SVC001")
    if not NAME_PATTERN.match(rule.name):
        problems.append(f"{label}: name {rule.name!r} is not kebab-case")
    problems.extend(
        f"{label}: checklist item {item!r} is not D-NN"
        for item in rule.checklist
        if not CHECKLIST_PATTERN.match(item)
    )
    sections = rule.sections()
    required = MEASURED_SECTIONS if rule.measured else STATIC_SECTIONS
    problems.extend(
        f"{label}: docstring lacks `## {name}`" for name in required if name not in sections
    )
    if not rule.measured and "Example" in sections and "Use instead:" not in sections["Example"]:
        problems.append(f"{label}: `## Example` lacks a `Use instead:` part")
    return problems


@dataclass(frozen=True)
class Registry:
    """All known rules, looked up by code, name, prefix or checklist item."""

    rules: tuple[type[Rule], ...]

    def __post_init__(self) -> None:
        problems = [p for rule in self.rules for p in validate_rule(rule)]
        codes = [r.code for r in self.rules]
        names = [r.name for r in self.rules]
        problems += [
            f"duplicate code {c}" for c in sorted({c for c in codes if codes.count(c) > 1})
        ]
        problems += [
            f"duplicate name {n}" for n in sorted({n for n in names if names.count(n) > 1})
        ]
        if problems:
            raise ConfigError("invalid rule catalogue: " + "; ".join(problems))

    @classmethod
    def default(cls) -> Registry:
        return _default_registry()

    def __iter__(self) -> Iterator[type[Rule]]:
        return iter(self.rules)

    def __len__(self) -> int:
        return len(self.rules)

    def get(self, code: str) -> type[Rule] | None:
        return next((r for r in self.rules if r.code == code), None)

    def resolve(self, query: str) -> list[type[Rule]]:
        """Rules matching a code, a name, a code prefix (`SVC`, `SVC00`) or a checklist item."""
        text = query.strip()
        upper = text.upper()
        if re.match(r"^D-\d{2}$", upper):
            return [r for r in self.rules if any(_checklist_matches(i, upper) for i in r.checklist)]
        exact = [r for r in self.rules if r.code == upper or r.name == text.lower()]
        if exact:
            return exact
        return [r for r in self.rules if r.code.startswith(upper)] if upper else []

    def did_you_mean(self, entry: str) -> str:
        """The hint for a selection that matched nothing: the closest codes or names."""
        names = [r.code for r in self.rules] + [r.name for r in self.rules]
        close = did_you_mean(entry.strip(), names, n=3, quote=False, case_fold=True)
        if close:
            return close + " (`infermedic rules` lists them)"
        return "`infermedic rules` lists every code and name"

    def select(self, select: Iterable[str] = (), ignore: Iterable[str] = ()) -> list[type[Rule]]:
        """The rules selected by `--select` (all when empty) minus those matched by `--ignore`.

        An entry that matches no rule is a `ConfigError`: a typo must not silently turn a
        rule off.
        """
        chosen = list(self.rules)
        select = [s for s in select if s.strip()]
        if select:
            wanted: set[str] = set()
            for entry in select:
                matched = self.resolve(entry)
                if not matched and entry.upper() != "ALL":
                    raise ConfigError(
                        f"--select {entry!r} matches no rule", hint=self.did_you_mean(entry)
                    )
                wanted |= {r.code for r in (self.rules if entry.upper() == "ALL" else matched)}
            chosen = [r for r in chosen if r.code in wanted]
        for entry in ignore:
            if not entry.strip():
                continue
            matched = self.resolve(entry)
            if not matched:
                raise ConfigError(
                    f"--ignore {entry!r} matches no rule", hint=self.did_you_mean(entry)
                )
            dropped = {r.code for r in matched}
            chosen = [r for r in chosen if r.code not in dropped]
        return chosen


def _checklist_matches(item: str, query: str) -> bool:
    """`D-21/22` answers both `D-21` and `D-22`."""
    head, _, tail = item.partition("/")
    numbers = {head[2:]} | ({tail} if tail else set())
    return query[2:] in numbers


def load_domain_rules(module_name: str) -> tuple[type[Rule], ...]:
    module = importlib.import_module(module_name)
    rules: Any = getattr(module, "RULES", ())
    return tuple(rules)


@cache
def _default_registry() -> Registry:
    rules: list[type[Rule]] = []
    for module_name in DOMAIN_RULE_MODULES:
        rules.extend(load_domain_rules(module_name))
    return Registry(tuple(rules))
