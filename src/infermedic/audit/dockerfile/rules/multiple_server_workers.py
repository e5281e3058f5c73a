"""DKR002: several server worker processes per container."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import ClassVar

from infermedic.audit.dockerfile.worker_sources import FoundSetting, collect
from infermedic.audit.k8s.loader import documents
from infermedic.audit.k8s.workloads import Autoscaler, autoscalers, workloads
from infermedic.audit.project import AuditProject, FileKind, ProjectRule
from infermedic.model import Evidence, EvidenceKind, Finding, Location, Severity


class MultipleServerWorkers(ProjectRule):
    """## What it does
    Checks for uvicorn, gunicorn, hypercorn or `fastapi run` started with more than one
    worker process: `--workers N`, `-w N`, `WEB_CONCURRENCY`, `GUNICORN_CMD_ARGS`, or
    `workers = …` in a gunicorn config, wherever the server is started: Dockerfile `CMD`,
    `ENTRYPOINT` and `ENV`, Procfile, docker-compose and Kubernetes container `command`,
    `args` and `env`.

    ## Why is this bad?
    Under Kubernetes the pod is the unit of scaling. N workers in one pod share the pod's
    CPU limit, so each model call competes with N-1 others (and with their BLAS threads),
    latency rises and the CPU throttles; each worker also loads its own copy of the model,
    multiplying memory. The autoscaler sees one busy pod instead of adding pods, and a
    worker count taken from the CPU count reads the *node's* CPUs, not the pod's limit.
    The finding is `high` when the repository defines an autoscaler.

    ## Example
    ```dockerfile
    FROM python:3.11-slim
    CMD ["gunicorn", "-k", "uvicorn.workers.UvicornWorker", "-w", "4", "app.main:app"]
    ```

    Use instead:
    ```dockerfile
    FROM python:3.11-slim
    CMD ["uvicorn", "app.main:app", "--host", "0.0.0.0", "--port", "8000"]
    ```
    with one worker per pod, and let the HorizontalPodAutoscaler add pods.

    ## Known problems
    A worker count set only in a start script (`ENTRYPOINT ["./start.sh"]`), in container
    `args` without the server's name, or read from an environment variable with no value in
    the repository is not seen. Outside Kubernetes (a VM, a single host), several workers is
    the usual choice; the finding is `low` when the repository has no Kubernetes manifests.
    """

    code: ClassVar[str] = "DKR002"
    name: ClassVar[str] = "multiple-server-workers"
    severity: ClassVar[Severity] = Severity.MEDIUM
    summary: ClassVar[str] = "The server starts several worker processes per container"
    fix: ClassVar[str] = "Run one worker per container and scale with pods"
    risk: ClassVar[str] = (
        "workers fight for the pod's CPU limit, multiply model memory and hide load from "
        "the autoscaler"
    )
    checklist: ClassVar[tuple[str, ...]] = ("D-01",)
    file_kinds: ClassVar[tuple[FileKind, ...]] = (
        FileKind.DOCKERFILE,
        FileKind.PROCFILE,
        FileKind.PYTHON,
        FileKind.YAML,
    )

    def check(self, project: AuditProject) -> Iterator[Finding]:
        docs = documents(project)
        scalers = list(autoscalers(docs))
        has_workloads = any(True for _ in workloads(docs))
        for found in collect(project, docs):
            yield self._finding(found, scalers, has_workloads)

    def _finding(
        self, found: FoundSetting, scalers: list[Autoscaler], has_workloads: bool
    ) -> Finding:
        setting = found.setting
        where = f"{found.relpath}:{found.line}"
        evidence = [Evidence(kind=EvidenceKind.SOURCE, action=where, observed=found.observed)]
        relevant = [s for s in scalers if found.workload is not None and s.targets(found.workload)]
        scaler = next(iter(relevant or scalers), None)
        if scaler is not None:
            severity = Severity.HIGH
            evidence.append(
                Evidence(
                    kind=EvidenceKind.SOURCE,
                    action=f"{scaler.relpath}:{scaler.line}",
                    observed=scaler.describe(),
                )
            )
            context = f"; {scaler.kind} `{scaler.name}` scales pods, not workers"
        elif has_workloads:
            severity, context = Severity.MEDIUM, ""
        else:
            severity = Severity.LOW
            context = " (no Kubernetes manifests here: this matters if the image runs in pods)"
        subject = found.workload.describe() if found.workload is not None else "The server"
        count = setting.describe_count
        return self.finding(
            Location(path=found.relpath, line=found.line),
            f"{subject} starts {count} per container (`{setting.setting}`){context}",
            evidence=evidence,
            severity=severity,
            fix=_fix(found),
            fingerprint_key=setting.setting,
        )


def _fix(found: FoundSetting) -> str:
    setting = found.setting
    if setting.server in ("WEB_CONCURRENCY", "GUNICORN_CMD_ARGS"):
        return f"Remove `{setting.setting}` (or set it to 1) and scale with pods"
    if setting.setting.startswith("workers"):
        return "Replace it with `workers = 1` and scale with pods"
    replacement = _without_setting(found.observed, setting.setting)
    if replacement is not None:
        return f"Replace the line with `{replacement}` and scale with pods"
    return f"Drop `{setting.setting}` (one worker per container) and scale with pods"


def _without_setting(line: str, setting: str) -> str | None:
    """The line with the worker flag removed, in shell or JSON (exec) form."""
    words = setting.split(" ")
    shell = re.compile(r"\s+".join(re.escape(w) for w in words) + r"\s*")
    joined = r",\s*".join(f'"{re.escape(w)}"' for w in words)
    quoted = re.compile(joined + r",\s*")
    quoted_last = re.compile(r",\s*" + joined + r"(?=\s*\])")
    for pattern in (quoted, quoted_last, shell):
        replaced, count = pattern.subn("", line, count=1)
        if count:
            return replaced.strip()
    return None
