"""The YAML loader keeps lines, survives hostile input, and reports what it skipped."""

from __future__ import annotations

from pathlib import Path

from filerules_support import make_project, run, write_files

from infermedic.audit.k8s.loader import get, items, line_of, parse_yaml_text, path, text
from infermedic.audit.k8s.rules import RULES as K8S_RULES
from infermedic.audit.k8s.workloads import autoscalers, workloads
from infermedic.model import NotificationLevel

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: api-{n}
spec:
  template:
    spec:
      containers:
        - name: api
          image: api:{n}
          ports: [{{containerPort: 8000}}]
"""


def test_nodes_keep_one_based_lines_across_documents() -> None:
    source = "---\n# leading comment\n" + DEPLOYMENT.format(n=1) + "---\n" + DEPLOYMENT.format(n=2)
    loaded = parse_yaml_text(source, "deploy.yaml")
    assert loaded.skipped is None
    first, second = loaded.documents
    assert line_of(get(first.root, "kind")) == 4  # type: ignore[arg-type]
    assert line_of(get(second.root, "kind")) == 16  # type: ignore[arg-type]
    (workload_1, workload_2) = workloads(list(loaded.documents))
    assert (workload_1.name, workload_1.line, workload_1.containers[0].line) == ("api-1", 4, 11)
    assert (workload_2.name, workload_2.line) == ("api-2", 16)
    assert first.source_line(11) == "- name: api"


def test_many_documents_load() -> None:
    source = "---\n".join(DEPLOYMENT.format(n=n) for n in range(500))
    loaded = parse_yaml_text(source, "big.yaml")
    assert len(loaded.documents) == 500
    names = [w.name for w in workloads(list(loaded.documents))]
    assert names[0] == "api-0" and names[-1] == "api-499"


def test_anchors_aliases_and_merge_keys_resolve() -> None:
    source = """\
x-probe: &probe
  httpGet: {path: /health, port: 8000}
base: &base
  name: api
  image: api:1
apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  containers:
    - <<: *base
      livenessProbe: *probe
      readinessProbe: *probe
"""
    loaded = parse_yaml_text(source, "pod.yaml")
    (pod,) = workloads(list(loaded.documents))
    (container,) = pod.containers
    assert (container.name, container.image) == ("api", "api:1")
    assert container.probes["liveness"].path == container.probes["readiness"].path == "/health"
    assert container.probes["readiness"].line == 13


def test_alias_bomb_is_not_expanded() -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{n}: &a{n} [" + ", ".join([f"*a{n - 1}"] * 10) + "]" for n in range(1, 12)]
    loaded = parse_yaml_text("\n".join(lines) + "\n", "bomb.yaml")
    assert len(loaded.documents) == 1
    assert len(items(get(loaded.documents[0].root, "a11"))) == 10


def test_invalid_yaml_keeps_earlier_documents_and_says_where() -> None:
    source = DEPLOYMENT.format(n=1) + "---\nkind: [unclosed\n"
    loaded = parse_yaml_text(source, "broken.yaml")
    assert len(loaded.documents) == 1
    assert loaded.skipped is not None and "invalid YAML at line" in loaded.skipped


def test_non_kubernetes_and_odd_shapes_read_as_absent() -> None:
    source = "- just\n- a list\n---\nkind: Deployment\napiVersion: apps/v1\nspec: 3\n---\n42\n"
    loaded = parse_yaml_text(source, "odd.yaml")
    docs = list(loaded.documents)
    assert list(workloads(docs)) == []
    assert list(autoscalers(docs)) == []
    assert text(path(docs[1].root, "spec", "template")) is None


def test_templated_text_that_is_valid_yaml_is_read() -> None:
    source = (
        "groups:\n  - rules:\n      - alert: Down\n"
        '        annotations: {summary: "{{ $labels.instance }}"}\n'
    )
    loaded = parse_yaml_text(source, "alerts.yaml")
    assert loaded.skipped is None and len(loaded.documents) == 1


def test_project_notifications_for_skipped_files(tmp_path: Path) -> None:
    helm = (
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {{ .Release.Name }}\n"
        "{{- if .Values.hpa }}\nspec: {}\n{{- end }}\n"
    )
    write_files(
        tmp_path,
        {
            "chart/Chart.yaml": "apiVersion: v2\nname: api\nversion: 0.1.0\n",
            "chart/templates/deployment.yaml": helm,
            "loose/template.yaml": "replicas: {{ .Values.replicas }}\n{{- end }}\n",
            "broken.yaml": "a: [\n",
            "binary.yaml": b"\x00\x01\x02\xff" * 10,
            "latin1.yaml": "name: caf\xe9\n".encode("latin-1"),
            "empty.yaml": "",
            "comments-only.yaml": "# nothing here\n---\n",
        },
    )
    project = make_project(tmp_path)
    for rule in K8S_RULES:
        assert run(rule, project) == []
    notes = {n.path: n for n in project.notifications}
    assert set(notes) == {
        "chart",  # a chart's template is rendered: the chart gets one note saying how
        "loose/template.yaml",
        "broken.yaml",
        "binary.yaml",
        "latin1.yaml",
    }
    assert notes["chart"].level is NotificationLevel.NOTE
    assert notes["chart"].message.startswith("Helm templates read without helm")
    assert "helm template" in notes["loose/template.yaml"].message
    assert notes["broken.yaml"].level is NotificationLevel.WARNING
    # three rules read the same files; each skip is noted once
    assert len(project.notifications) == 5
