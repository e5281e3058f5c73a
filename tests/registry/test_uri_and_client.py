"""Model URIs, and the client's failures without a server: each one line, with a hint."""

from __future__ import annotations

import socket
import sys
import time
from pathlib import Path

import pytest

from infermedic.errors import ConfigError, EngineUnavailable, InputError, RegistryError
from infermedic.registry import (
    RegistryClient,
    parse_model_uri,
    parse_registry_model,
    tracking_uri_from,
)
from infermedic.registry.uri import UriKind


def test_model_uris() -> None:
    alias = parse_model_uri("models:/churn model@champion")
    assert (alias.kind, alias.name, alias.alias) == (UriKind.ALIAS, "churn model", "champion")
    version = parse_model_uri("models:/churn/12")
    assert (version.kind, version.version) == (UriKind.VERSION, "12")
    run = parse_model_uri("runs:/0123456789abcdef0123456789abcdef/model")
    assert (run.kind, run.path) == (UriKind.RUN, "model")
    with pytest.raises(InputError, match="not a version number"):
        parse_model_uri("models:/churn/latest")
    with pytest.raises(InputError, match="not a model URI"):
        parse_model_uri("models:/")
    assert parse_registry_model("churn") == ("churn", "champion")
    assert parse_registry_model("churn@challenger") == ("churn", "challenger")
    assert parse_registry_model("models:/churn@prod") == ("churn", "prod")
    with pytest.raises(InputError, match="must name an alias"):
        parse_registry_model("models:/churn/3")


def test_no_tracking_server_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    with pytest.raises(ConfigError, match="tracking server is not named"):
        tracking_uri_from(None)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5000")
    assert tracking_uri_from(None) == "http://127.0.0.1:5000"
    assert tracking_uri_from("http://other:1") == "http://other:1"


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_unreachable_server_is_one_bounded_line_without_the_password() -> None:
    uri = f"http://ops:hunter2secret@127.0.0.1:{_closed_port()}"
    client = RegistryClient(tracking_uri=uri, timeout_s=2, retries=1)
    started = time.monotonic()
    with pytest.raises(RegistryError) as caught:
        client.check_alias("churn", "champion")
    assert time.monotonic() - started < 60  # MLflow's defaults would retry for minutes
    message = str(caught.value)
    assert "cannot be reached" in message and "\n" not in message
    assert "hunter2secret" not in message and "***" in message
    assert caught.value.hint and "MLFLOW_TRACKING_URI" in caught.value.hint


def test_missing_mlflow_is_an_install_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    # mlflow is installed here; a None entry makes `import mlflow` fail as on a light install
    monkeypatch.setitem(sys.modules, "mlflow", None)
    client = RegistryClient(tracking_uri="http://127.0.0.1:1")
    with pytest.raises(EngineUnavailable) as caught:
        client.check_alias("churn", "champion")
    assert caught.value.hint is not None and "infermedic[registry]" in caught.value.hint


def test_registry_refusals_map_to_one_line_with_a_hint() -> None:
    # the exceptions MLflow's REST client raises, built as it builds them from a response
    from mlflow.exceptions import RestException

    client = RegistryClient(tracking_uri="https://mlflow.example.com")
    denied = client._error(
        RestException({"error_code": "PERMISSION_DENIED", "message": "Permission denied"}),
        "model 'churn'",
    )
    assert "permission denied" in str(denied) and denied.hint is not None
    assert "MLFLOW_TRACKING_TOKEN" in denied.hint
    missing = client._error(
        RestException(
            {"error_code": "RESOURCE_DOES_NOT_EXIST", "message": "Registered Model not found"}
        ),
        "model 'churn'",
    )
    assert str(missing) == (
        "model 'churn' does not exist in the registry at https://mlflow.example.com"
    )


def test_a_failed_download_is_one_line(tmp_path: Path) -> None:
    client = RegistryClient(tracking_uri=f"http://127.0.0.1:{_closed_port()}", retries=0)
    started = time.monotonic()
    # downloads run inside the client's bounded environment, as `resolve` runs them
    with pytest.raises(RegistryError) as caught, client._mlflow():
        client._download("runs:/0123456789abcdef0123456789abcdef/model", tmp_path)
    assert time.monotonic() - started < 60
    assert str(caught.value).startswith("cannot download runs:/0123456789abcdef")
    assert "\n" not in str(caught.value) and caught.value.hint is not None
