"""Helm chart templates: the best-effort reader (no `helm` here) and the `helm template` path."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from filerules_support import make_project, run, write_files

from infermedic.audit.k8s.gotemplate import PLACEHOLDER, Renderer
from infermedic.audit.k8s.loader import documents
from infermedic.audit.k8s.rules.liveness_equals_readiness import LivenessEqualsReadiness
from infermedic.audit.k8s.rules.memory_based_hpa import MemoryBasedHpa
from infermedic.audit.k8s.rules.missing_probes import MissingProbes
from infermedic.model import NotificationLevel


def _render(source: str, values: dict[str, object], helpers: str = "") -> tuple[str, list[int]]:
    _, defines = Renderer.parse(helpers)
    tree, more = Renderer.parse(source)
    renderer = Renderer({"Values": values, "Release": {"Name": "r"}}, defines | more)
    rendered = renderer.render(tree)
    return rendered.text, list(rendered.source_lines)


def test_values_blocks_keep_the_template_line_they_came_from() -> None:
    source = "spec:\n  probe:\n    {{- toYaml .Values.probe | nindent 4 }}\n  after: 1\n"
    text, lines = _render(source, {"probe": {"httpGet": {"path": "/ready", "port": 80}}})
    assert text.splitlines() == [
        "spec:",
        "  probe:",
        "    httpGet:",
        "      path: /ready",
        "      port: 80",
        "  after: 1",
    ]
    assert lines[:6] == [1, 2, 3, 3, 3, 4]


def test_conditions_defaults_ranges_and_variables() -> None:
    source = (
        "{{- $p := .Values.port | default 8080 -}}\n"
        "{{- if .Values.off }}\noff: true\n{{- else if .Values.on }}\non: {{ $p }}\n{{- end }}\n"
        "{{- range $i, $w := .Values.workers }}\nw{{ $i }}: {{ $w.name | quote }}\n{{- end }}\n"
        "{{- with .Values.missing }}\nnever: 1\n{{- else }}\n"
        "else: {{ $.Release.Name }}\n{{- end }}\n"
    )
    text, _ = _render(source, {"on": True, "workers": [{"name": "a"}, {"name": "b"}]})
    assert text.split() == ["on:", "8080", "w0:", '"a"', "w1:", '"b"', "else:", "r"]


def test_what_cannot_be_evaluated_is_left_out_and_counted() -> None:
    source = (
        "kind: {{ .Capabilities.KubeVersion.Major }}\n"
        'labels:\n  {{- include "partly" . | nindent 2 }}\n'
        '{{- if .Capabilities.APIVersions.Has "x" }}\nfirst: 1\n'
        "{{- else }}\nsecond: 1\n{{- end }}\n"
    )
    helpers = '{{- define "partly" -}}\na: {{ lookup "v1" "Secret" "" "" }}\n{{- end }}'
    _, defines = Renderer.parse(helpers)
    tree, _ = Renderer.parse(source)
    renderer = Renderer({"Values": {}}, defines)
    text = renderer.render(tree).text
    # a scalar keeps a placeholder, a block is left out, an unknown `if` takes its first branch
    assert text.split() == ["kind:", PLACEHOLDER, "labels:", "first:", "1"]
    assert len(renderer.unknown) == 4


CHART = {
    "chart/Chart.yaml": "apiVersion: v2\nname: api\nversion: 0.1.0\n",
    "chart/values.yaml": "port: 8000\nprobe: {httpGet: {path: /health, port: 8000}}\n",
    "chart/templates/deployment.yaml": (
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {{ .Release.Name }}\n"
        "spec:\n  template:\n    spec:\n      containers:\n        - name: api\n"
        "          image: example/api:1\n          ports: [{containerPort: {{ .Values.port }}}]\n"
        "          livenessProbe:\n            {{- toYaml .Values.probe | nindent 12 }}\n"
        "          readinessProbe:\n            {{- toYaml .Values.probe | nindent 12 }}\n"
    ),
}


def test_a_chart_is_read_without_helm_and_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "no-bin"))
    project = make_project(write_files(tmp_path / "repo", CHART))
    findings = run(LivenessEqualsReadiness, project)
    assert [(f.location.path, f.location.line) for f in findings] == [
        ("chart/templates/deployment.yaml", 14)
    ]
    (note,) = project.notifications
    assert note.path == "chart" and note.level is NotificationLevel.NOTE
    assert note.message.startswith("Helm templates read without helm: `helm` is not on PATH")


def test_values_are_never_read_through_a_link_out_of_the_chart(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "no-bin"))
    outside = tmp_path / "outside.yaml"
    outside.write_text("probe: {httpGet: {path: /health, port: 8000}}\n", encoding="utf-8")
    files = {k: v for k, v in CHART.items() if not k.endswith("values.yaml")}
    root = write_files(tmp_path / "repo", files)
    (root / "chart/values.yaml").symlink_to(outside)
    project = make_project(root)
    # without the values, both probes render empty: nothing is the same check
    assert run(LivenessEqualsReadiness, project) == []


def test_an_unreadable_template_is_a_note_not_a_crash(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "no-bin"))
    files = dict(CHART)
    files["chart/templates/broken.yaml"] = "{{- if .Values.x }}\nkind: Pod\n"
    files["chart/templates/not-yaml.yaml"] = "a: {{ .Values.port }}\n  b: [\n"
    project = make_project(write_files(tmp_path / "repo", files))
    for rule in (MissingProbes, MemoryBasedHpa, LivenessEqualsReadiness):
        run(rule, project)
    notes = {n.path: n.message for n in project.notifications}
    assert "never closed" in notes["chart/templates/broken.yaml"]
    assert "not valid YAML near template line 2" in notes["chart/templates/not-yaml.yaml"]


def _fake_helm(bin_dir: Path, script: str) -> None:
    """A stand-in for `helm` (it cannot be installed on this machine): prints what
    `helm template` prints for the chart in CHART, or fails like it does."""
    bin_dir.mkdir()
    helm = bin_dir / "helm"
    helm.write_text("#!/bin/sh\n" + script, encoding="utf-8")
    helm.chmod(helm.stat().st_mode | stat.S_IXUSR)


RENDERED = """---
# Source: api/templates/deployment.yaml
apiVersion: apps/v1
kind: Deployment
metadata:
  name: infermedic
spec:
  template:
    spec:
      containers:
        - name: api
          image: example/api:1
          ports: [{containerPort: 8000}]
          livenessProbe:
            httpGet:
              path: /health
              port: 8000
          readinessProbe:
            httpGet:
              path: /health
              port: 8000
"""


def test_helm_on_path_renders_the_chart(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_helm(tmp_path / "bin", f"cat <<'EOF'\n{RENDERED}EOF\n")
    monkeypatch.setenv("PATH", str(tmp_path / "bin") + os.pathsep + os.environ["PATH"])
    project = make_project(write_files(tmp_path / "repo", CHART))
    findings = run(LivenessEqualsReadiness, project)
    assert [(f.location.path, f.location.line) for f in findings] == [
        ("chart/templates/deployment.yaml", 14)
    ]
    rendered = [d for d in documents(project) if "/templates/" in d.relpath]
    assert len(rendered) == 1  # the one document helm printed for the template
    (note,) = project.notifications
    assert "rendered with `helm template`" in note.message


def test_a_failing_helm_falls_back_to_the_reader(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fake_helm(tmp_path / "bin", "echo 'Error: found in Chart.yaml, but missing in charts/' >&2\n"
               "exit 1\n")  # fmt: skip
    monkeypatch.setenv("PATH", str(tmp_path / "bin") + os.pathsep + os.environ["PATH"])
    project = make_project(write_files(tmp_path / "repo", CHART))
    assert len(run(LivenessEqualsReadiness, project)) == 1
    (note,) = project.notifications
    assert note.message.startswith("Helm templates read without helm: `helm template` failed")
    assert "missing in charts/" in note.message


def test_hostile_templates_end() -> None:
    # a helper that includes itself, a range over a huge count, an unclosed action
    loop = '{{- define "loop" -}}\nx: {{ include "loop" . }}\n{{- end -}}'
    source = 'a: {{ include "loop" . }}\n{{- range 100000000 }}\n- {{ . }}\n{{- end }}\nb: {{ .x\n'
    _, defines = Renderer.parse(loop)
    tree, _ = Renderer.parse(source)
    renderer = Renderer({"Values": {}}, defines)
    text = renderer.render(tree).text
    assert text.startswith("a: \n")  # the loop gave up as unknown, and was left out
    assert text.count("\n- ") == 1000  # a range over a number is capped
    assert text.endswith("b: {{ .x\n")  # an unclosed action is left as text
