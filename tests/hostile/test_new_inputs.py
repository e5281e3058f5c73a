"""Hostile inputs to the commands added after the first fuzzing round: `fix --input`,
`fix --tracking-uri`, `fix --apply` through a directory link, `diagnose --replay`, and a
symptom as long as a log. Each runs the real CLI in a subprocess and must end as one
`error:` line (plus an optional `hint:`) with exit 2, or a refusal in the output: never a
traceback, never a secret, nothing written outside the paths given."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fix.services import STARLETTE_RAW, git_commit_all, write

ROOT = Path(__file__).resolve().parents[2]
INCIDENT = ROOT / "tests/fixtures/incidents/busy_host/blocking-predict.json"
SECRET = "s3cr3tPW9zz"


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{ROOT}"}
    return subprocess.run(
        [sys.executable, "-m", "infermedic", *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=cwd,
        env=env,
    )


def _one_line(result: subprocess.CompletedProcess[str], named: str) -> None:
    assert result.returncode == 2, result.stdout[-2000:] + result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines and lines[0].startswith("error: ") and len(lines) <= 2, result.stderr
    assert all(line.startswith(("error: ", "hint: ")) for line in lines), result.stderr
    assert named in lines[0], lines[0]


def _recorded() -> dict[str, object]:
    data: dict[str, object] = json.loads(INCIDENT.read_text())
    return data


def _report_edit(key: str, value: object) -> bytes:
    data = _recorded()
    checks = data["checks"]
    assert isinstance(checks, list)
    checks[0]["report"][key] = value
    return json.dumps(data).encode()


REPLAY_CASES: dict[str, tuple[bytes, str]] = {
    "empty": (b"", "is not JSON"),
    "truncated": (INCIDENT.read_bytes()[:5000], "is not JSON"),
    "binary": (bytes(range(256)) * 20, "not UTF-8"),
    "deep arrays": (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
    "deep objects": (b'{"a":' * 3000 + b"1" + b"}" * 3000, "nested too deeply"),
    "integer past the digit limit": (b'{"schema_version": 1' + b"0" * 5000 + b"}", "is not JSON"),
    "a list": (b"[1, 2]", "not a saved incident"),
    "schema 2": (json.dumps({**_recorded(), "schema_version": 2}).encode(), "schema 1"),
    "schema true": (json.dumps({**_recorded(), "schema_version": True}).encode(), "schema 1"),
    "checks a string": (json.dumps({**_recorded(), "checks": "x"}).encode(), "damaged"),
    "checks of strings": (json.dumps({**_recorded(), "checks": ["x"]}).encode(), "damaged"),
    "symptom a number": (json.dumps({**_recorded(), "symptom": 5}).encode(), "damaged"),
    "symptom a log": (
        json.dumps({**_recorded(), "symptom": "slow " * 200_000}).encode(),
        "characters long",
    ),
    "findings a string": (_report_edit("findings", "abc"), "damaged"),
    "findings of strings": (_report_edit("findings", ["x"]), "damaged"),
    "fixes of strings": (json.dumps({**_recorded(), "fixes": ["x"]}).encode(), "damaged"),
}


@pytest.mark.parametrize("case", sorted(REPLAY_CASES))
def test_a_damaged_saved_incident_is_one_line(case: str, tmp_path: Path) -> None:
    data, named = REPLAY_CASES[case]
    incident = tmp_path / "incident"
    incident.mkdir()
    (incident / "observations.json").write_bytes(data)
    result = _run("diagnose", "--replay", str(incident), "--audit-log", "log.jsonl", cwd=tmp_path)
    _one_line(result, named)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["incident"]  # nothing written


def test_an_empty_incident_directory_is_one_line(tmp_path: Path) -> None:
    _one_line(_run("diagnose", "--replay", str(tmp_path), cwd=tmp_path), "does not exist")


def test_a_symptom_as_long_as_a_log_is_refused_at_once(tmp_path: Path) -> None:
    result = _run("diagnose", "slow " * 2_000, "--repo", str(tmp_path), cwd=tmp_path)
    _one_line(result, "characters long")


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    files = {
        **STARLETTE_RAW,
        "service/pinned.py": (
            'import mlflow\n\nm = mlflow.pyfunc.load_model("models:/churn/latest")\n'
        ),
    }
    root = write(tmp_path_factory.mktemp("fix") / "repo", files)
    git_commit_all(root)
    return root


@pytest.mark.parametrize(
    ("body", "named"),
    [
        (b'{"a":' * 5000 + b"1" + b"}" * 5000, "nested too deeply"),
        (b'{"a": 1' + b"0" * 5000 + b"}", "is not JSON"),
        (b"\xff\xfe{\x00}\x00", "not UTF-8"),
        (b"", "is not JSON"),
        (b'{"a": ' + b"1," * 40_000 + b"1}", "bytes, over"),
    ],
)
def test_a_bad_fix_input_body_is_one_line(
    body: bytes, named: str, repo: Path, tmp_path: Path
) -> None:
    given = tmp_path / "body.json"
    given.write_bytes(body)
    result = _run(
        "fix",
        str(repo),
        "--select",
        "SVC006",
        "--input",
        str(given),
        "--audit-log",
        "l",
        cwd=tmp_path,
    )
    _one_line(result, named)


@pytest.mark.parametrize(
    ("uri", "named"),
    [
        ("ftp://example.invalid/x", "no scheme MLflow reads"),
        ("not a uri", "no scheme MLflow reads"),
        (f"http://u:{SECRET}@[::1", "is not a URL"),
        (f"http://u:{SECRET}@127.0.0.1:99999", "is not a URL"),
        ("sqlite:////nonexistent-infermedic/dir/mlflow.db", "names no existing database"),
    ],
)
def test_a_bad_tracking_uri_is_one_line_and_secret_free(
    uri: str, named: str, repo: Path, tmp_path: Path
) -> None:
    result = _run(
        "fix",
        str(repo),
        "--select",
        "SVC007",
        "--tracking-uri",
        uri,
        "--audit-log",
        "l",
        cwd=tmp_path,
    )
    _one_line(result, named)
    assert SECRET not in result.stdout + result.stderr
    assert not Path("/nonexistent-infermedic").exists()  # MLflow once created the database


def test_a_token_in_the_tracking_uri_query_is_never_printed(repo: Path, tmp_path: Path) -> None:
    """An unreachable server: MLflow's message names the URL it asked, token and all."""
    uri = f"http://127.0.0.1:9/?token={SECRET}"
    result = _run(
        "fix",
        str(repo),
        "--select",
        "SVC007",
        "--tracking-uri",
        uri,
        "--audit-log",
        "l",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert "refused SVC007" in result.stdout and "cannot be reached" in result.stdout
    assert SECRET not in result.stdout + result.stderr + (tmp_path / "l").read_text()


def test_apply_never_writes_through_a_directory_link(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    root = write(tmp_path / "repo", STARLETTE_RAW)
    (root / "tests").symlink_to(outside)
    git_commit_all(root)
    before = (root / "service/app.py").read_text()
    result = _run(
        "fix",
        str(root),
        "--apply",
        "--tests",
        "--select",
        "SVC009",
        "--audit-log",
        "l",
        cwd=tmp_path,
    )
    _one_line(result, "symbolic link")
    assert list(outside.iterdir()) == []
    assert (root / "service/app.py").read_text() == before  # nothing half-applied


@pytest.mark.parametrize("name", ["@", "a@b@c", "models:/x/latest", "models:/", "models:/a b@c d"])
def test_a_malformed_registry_model_is_refused_before_anything_runs(
    name: str, tmp_path: Path
) -> None:
    result = _run(
        "diagnose",
        "--registry-model",
        name,
        "--tracking-uri",
        "http://127.0.0.1:9",
        "--audit-log",
        "l",
        cwd=tmp_path,
    )
    _one_line(result, name)
    assert list(tmp_path.iterdir()) == []  # no incident kept, no log line
