"""The incident layout of a diagnosis, in Markdown and HTML, rendered from the JSON contract.

Issue summary · root-cause analysis · findings (infrastructure, model, data) · root cause ·
solution · prevention · checks run. Everything here comes from `measurements["diagnosis"]`
and the findings of the same dict, so no view shows what the JSON lacks.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from infermedic.report.markdown import escape_md, findings_section, markdown_table
from infermedic.report.terminal import describe_location, format_cell

INFRA_PREFIXES = ("LIVE", "DKR", "K8S", "SVC", "XPL", "PKG", "REP")
MODEL_PREFIXES = ("PROF",)
DATA_PREFIXES = ("DRIFT", "MON")
# how to use the `infermedic fix` commands a diagnosis offers
FIX_HINT = (
    "`infermedic fix` shows the diff; add `--apply --tests` to write it and a regression test"
)


def is_diagnosis(data: Mapping[str, Any]) -> bool:
    return isinstance(data.get("measurements", {}).get("diagnosis"), Mapping)


def latency_summary(data: Mapping[str, Any]) -> dict[str, Any] | None:
    """The probe's load-test latency (p50/p95/p99 ms, throughput, errors), if it ran."""
    probe = data.get("measurements", {}).get("probe", {})
    for key in ("load", "latency"):
        block = probe.get(key)
        if isinstance(block, Mapping):
            latency = block.get("latency", block)
            if isinstance(latency, Mapping) and "p50_ms" in latency:
                return {
                    "p50_ms": latency.get("p50_ms"),
                    "p95_ms": latency.get("p95_ms"),
                    "p99_ms": latency.get("p99_ms"),
                    "max_ms": latency.get("max_ms"),
                    "throughput_rps": block.get("throughput_rps"),
                    "errors": block.get("errors") or block.get("errors_by_status"),
                    "requests": latency.get("count"),
                }
    return None


def model_summary(data: Mapping[str, Any]) -> list[tuple[str, str]]:
    """What is known of the model: the version served and the server-side time split."""
    probe = data.get("measurements", {}).get("probe", {})
    rows: list[tuple[str, str]] = []
    contract = probe.get("contract", {})
    if isinstance(contract, Mapping):
        rows.extend(
            (f"model version ({entry.get('source')})", str(entry["version"]))
            for entry in contract.get("model_versions", []) or []
            if isinstance(entry, Mapping) and entry.get("version")
        )
    load = probe.get("load", {})
    stages = load.get("server_timing") if isinstance(load, Mapping) else None
    if isinstance(stages, Mapping):
        rows.extend(_stage_row(stage, value) for stage, value in stages.items())
    return rows


def _stage_row(stage: str, value: Any) -> tuple[str, str]:
    if isinstance(value, Mapping):
        return (f"server stage `{stage}` mean", f"{format_cell(value.get('mean_ms'))} ms")
    return (f"server stage `{stage}`", f"{format_cell(value)} ms")


def _split(findings: Sequence[Mapping[str, Any]]) -> dict[str, list[Mapping[str, Any]]]:
    groups: dict[str, list[Mapping[str, Any]]] = {"infrastructure": [], "model": [], "data": []}
    for finding in findings:
        code = str(finding["code"])
        if code.startswith(DATA_PREFIXES):
            groups["data"].append(finding)
        elif code.startswith(MODEL_PREFIXES) or code in ("LIVE006", "LIVE007"):
            groups["model"].append(finding)
        else:
            groups["infrastructure"].append(finding)
    return groups


def render_incident_markdown(data: Mapping[str, Any]) -> str:
    return "\n".join(_markdown_lines(data)).rstrip() + "\n"


def _markdown_lines(data: Mapping[str, Any]) -> Iterator[str]:
    d = data["measurements"]["diagnosis"]
    root = d.get("root_cause")
    yield f"# Incident diagnosis: {escape_md(d['symptom'] or 'no symptom given')}"
    yield ""
    yield f"**{escape_md(d.get('verdict', ''))}**"
    yield ""
    yield "## Issue summary"
    yield ""
    yield f"- **Symptom:** {escape_md(d['symptom'] or '(none: every check the inputs allow)')}"
    yield f"- **Severity:** {d['severity']}"
    yield "- **Categories:** " + ", ".join(c["label"] for c in d["categories"])
    yield f"- **Routing:** {escape_md(d['routing'])}"
    if data.get("inputs"):
        yield "- **Inputs:** " + ", ".join(f"`{i}`" for i in data["inputs"])
    if root:
        yield f"- **Root cause:** {root['title']} ({root['component']}) — {root['status']}"
    else:
        yield "- **Root cause:** none named (see the verdict above and the analysis below)"
    for host in d.get("host", []):
        if host.get("noisy"):
            yield f"- **Busy host during {host['check']}:** {escape_md(host['noisy'])}"
    if data.get("duration_s") is not None:
        yield f"- **Diagnosis took:** {data['duration_s']:.1f} s"
    yield ""
    yield "## Root-cause analysis"
    yield ""
    rows = [
        (
            h["title"] + ("" if h.get("in_symptom", True) else " (also found)"),
            h["component"],
            h["status"] + (" (noisy host)" if h.get("noisy_host") else ""),
            ", ".join(sorted({e["code"] for e in h["evidence"]})) or "-",
            h["reason"],
        )
        for h in d["hypotheses"]
    ]
    yield from markdown_table(("hypothesis", "component", "status", "evidence", "why"), rows)
    yield ""
    yield "## Findings"
    yield ""
    groups = _split(data.get("findings", []))
    yield "### Infrastructure"
    yield ""
    latency = latency_summary(data)
    if latency:
        yield from markdown_table(
            ("p50 ms", "p95 ms", "p99 ms", "max ms", "throughput req/s", "requests"),
            [
                (
                    latency["p50_ms"],
                    latency["p95_ms"],
                    latency["p99_ms"],
                    latency["max_ms"],
                    latency["throughput_rps"],
                    latency["requests"],
                )
            ],
        )
        yield ""
    else:
        yield "Latency not measured (give `--url` to run the live checks)."
        yield ""
    yield from _finding_bullets(groups["infrastructure"])
    yield "### Model"
    yield ""
    model_rows = model_summary(data)
    if model_rows:
        yield from markdown_table(("what", "value"), model_rows)
        yield ""
    yield from _finding_bullets(groups["model"])
    yield "### Data"
    yield ""
    yield from _finding_bullets(groups["data"], empty="No data findings (or no data given).")
    yield "## Root cause"
    yield ""
    if root:
        yield f"- **Component:** {root['component']}"
        yield f"- **Cause:** {root['title']}"
        yield f"- **Status:** {root['status']} — {escape_md(root['reason'])}"
        yield "- **Evidence:**"
        for finding in root["evidence"]:
            where = describe_location(finding["location"])
            yield f"  - `{finding['code']}` {finding['name']} at `{where}`: "
            yield f"    {escape_md(finding['message'])}"
            for evidence in finding["evidence"]:
                yield f"    - `{_code(evidence['action'])}` → {escape_md(evidence['observed'])}"
    else:
        yield escape_md(d.get("verdict", "No root cause named."))
        untested = [h for h in d["hypotheses"] if h["status"] in ("not tested", "inconclusive")]
        if untested:
            yield ""
            yield "Not tested or inconclusive (and what would test them):"
            for h in untested:
                yield f"- {h['title']} ({h['status']}): {escape_md(h['reason'])}"
    yield ""
    yield "## Solution"
    yield ""
    solution = d["solution"]
    if solution["immediate"]:
        yield "**Immediate fix:**"
        yield ""
        for fix in solution["immediate"]:
            yield f"- {escape_md(fix)}"
        yield ""
    if d.get("fixes"):
        yield f"**Mechanical fix available** ({FIX_HINT}):"
        yield ""
        for offer in d["fixes"]:
            yield (
                f"- `{_code(offer['command'])}` — {offer['code']} at `{_code(offer['finding'])}`: "
                f"{escape_md(offer['summary'])}"
            )
        yield ""
    if d.get("fixes_note"):
        yield f"_{escape_md(d['fixes_note'])}_"
        yield ""
    if solution["long_term"]:
        yield f"**Long-term fix:** {escape_md(solution['long_term'])}"
        yield ""
    if not solution["immediate"] and not solution["long_term"]:
        yield "Nothing to fix for this symptom."
        yield ""
    yield "## Prevention"
    yield ""
    for item in d["prevention"] or [
        "keep `infermedic audit` in CI and `infermedic probe` in the deploy gate"
    ]:
        yield f"- [ ] {escape_md(item)}"
    yield ""
    yield "## Checks run"
    yield ""
    yield from markdown_table(
        ("check", "status", "command", "findings", "seconds", "note"),
        [
            (
                c["kind"],
                c["status"],
                f"`{c['command']}`",
                c["findings"],
                c["duration_s"],
                c["reason"] or "-",
            )
            for c in d["checks"]
        ],
    )
    yield ""
    yield from findings_section(data.get("findings", []), level=2)
    notes = data.get("notifications", [])
    if notes:
        yield "## Notifications"
        yield ""
        for note in notes:
            yield f"- **{note['level']}** {escape_md(note['message'])}"


def _finding_bullets(
    findings: Sequence[Mapping[str, Any]], empty: str = "No findings."
) -> Iterator[str]:
    if not findings:
        yield empty
        yield ""
        return
    for finding in findings:
        where = describe_location(finding["location"])
        yield (
            f"- **{finding['severity']}** `{finding['code']}` {finding['name']} at `{where}`: "
            f"{escape_md(finding['message'])}"
        )
    yield ""


def _code(text: str) -> str:
    return text.replace("`", "'").replace("\n", " ")


LATENCY_COLUMNS = (
    ("p50 ms", "p50_ms"),
    ("p95 ms", "p95_ms"),
    ("p99 ms", "p99_ms"),
    ("max ms", "max_ms"),
    ("throughput req/s", "throughput_rps"),
    ("requests", "requests"),
)
