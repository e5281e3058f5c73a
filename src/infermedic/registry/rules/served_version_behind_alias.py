"""MON007: the service serves a version much older than the one its alias points to."""

from __future__ import annotations

from infermedic.model import Effect, Finding
from infermedic.registry.records import DAY_MS
from infermedic.registry.rules.base import RegistryContext, RegistryRule, version_evidence


class ServedVersionBehindAlias(RegistryRule):
    """Served version far behind its alias.

    ## What it does
    Compares the registration time of each version the service reports with that of the
    version the alias points to now, and reports a served version registered more than
    `max-served-lag-days` (default 7) earlier.

    ## Why is this bad?
    The team believes the alias's version is in production; the service runs one that is
    days or weeks older. Fixes shipped in the newer version are not live, monitoring is
    compared against the wrong model, and the next restart changes predictions at once.

    ## How it's measured
    - Statistic: alias target's creation time minus the served version's, in days.
    - Window: the versions the service reported during the probe; the registry now.
    - Minimum samples: one reported version that exists in the registry.
    - Default threshold: more than 7 days (`max-served-lag-days`).
    """

    code = "MON007"
    name = "served-version-behind-alias"
    summary = "The served model version is much older than the version its alias points to."
    risk = "Production runs a stale model while everyone reasons about the alias's version."
    fix = (
        "Redeploy (or restart) so the service loads the alias's version, and make the "
        "deploy pipeline follow alias moves."
    )

    def check(self, ctx: RegistryContext) -> list[Finding]:
        target = ctx.snapshot.target
        if target is None or target.creation_ms is None or ctx.served is None:
            return []
        limit = ctx.options.max_served_lag_days
        findings = []
        for number in ctx.served_numbers():
            served = ctx.snapshot.version(number)
            if served is None or served.version == target.version or served.creation_ms is None:
                continue
            lag_days = (target.creation_ms - served.creation_ms) / DAY_MS
            if lag_days <= limit:
                continue
            findings.append(
                self.finding(
                    ctx.location,
                    f"the service serves {served.label()}, registered {lag_days:.1f} days before "
                    f"{target.label()} that @{ctx.snapshot.alias} points to (limit {limit:g} days)",
                    evidence=[
                        version_evidence(served, action="version the service reports"),
                        version_evidence(target, action=f"@{ctx.snapshot.alias} in the registry"),
                    ],
                    effect=Effect(
                        statistic="alias target registered after the served version",
                        value=round(lag_days, 2),
                        threshold=limit,
                        strong=limit,
                        unit="days",
                    ),
                    fingerprint_key=f"{served.name}/{served.version}",
                )
            )
        return findings
