"""Secret redaction: URLs (with hypothesis properties), headers, options, data, reports."""

from __future__ import annotations

import json
from collections.abc import Iterator
from urllib.parse import unquote

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from infermedic.model import (
    Evidence,
    EvidenceKind,
    Finding,
    Location,
    Notification,
    NotificationLevel,
    Report,
    Severity,
    Table,
)
from infermedic.redact import (
    REDACTED,
    forget_secrets,
    is_secret_name,
    redact_data,
    redact_text,
    redact_url,
    remember_secret,
    strip_userinfo,
)
from infermedic.report import OutputFormat, render

BOUNDED = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Characters a password may hold raw in a URL's userinfo (RFC 3986 sub-delims, unreserved,
# `:`), plus `@` and `%`, which users paste unencoded.
PASSWORD_CHARS = st.sampled_from(
    list("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~!$&'()*+,;=:@%")
)
NAME_CHARS = st.sampled_from(list("abcdefghijklmnopqrstuvwxyz0123456789-._~!$&'()*+,;=%"))
HOSTS = st.sampled_from(["127.0.0.1", "svc.internal", "[::1]", "example.com", "h"])
PORTS = st.sampled_from(["", ":80", ":8000", ":65535"])
PATHS = st.sampled_from(["", "/", "/predict", "/v2/models/m/infer", "/a/b.json"])


@pytest.fixture(autouse=True)
def _no_remembered_secrets() -> Iterator[None]:
    forget_secrets()
    yield
    forget_secrets()


@BOUNDED
@given(
    scheme=st.sampled_from(["http", "https"]),
    user=st.text(NAME_CHARS, max_size=12),
    password=st.text(PASSWORD_CHARS, min_size=1, max_size=24),
    host=HOSTS,
    port=PORTS,
    path=PATHS,
)
@example(scheme="http", user="user", password="p@ss", host="h", port="", path="/")
@example(scheme="http", user="u", password="a@b@c:d", host="127.0.0.1", port=":8000", path="")
def test_url_userinfo_is_replaced_whole(
    scheme: str, user: str, password: str, host: str, port: str, path: str
) -> None:
    url = f"{scheme}://{user}:{password}@{host}{port}{path}"
    assert redact_url(url) == f"{scheme}://{REDACTED}@{host}{port}{path}"
    # The same URL inside prose and inside JSON.
    assert redact_text(f"target {url} failed") == f"target {redact_url(url)} failed"
    loaded = json.loads(redact_text(json.dumps({"url": url})))
    assert loaded["url"] == redact_url(url)
    # Splitting credentials keeps an `@` of the password in the password.
    clean, got_user, got_password = strip_userinfo(url)
    assert clean == f"{scheme}://{host}{port}{path}"
    assert (got_user, got_password) == (unquote(user), unquote(password))


@BOUNDED
@given(
    name=st.sampled_from(
        [
            "api_key",
            "apikey",
            "key",
            "token",
            "access_token",
            "X-Amz-Signature",
            "sig",
            "password",
            "client_secret",
            "auth",
            "authToken",
        ]
    ),
    value=st.text(PASSWORD_CHARS.filter(lambda c: c not in "&;#"), min_size=1, max_size=20),
    other=st.sampled_from(["q=1", "max_tokens=5", "sort_key=a", "page=2"]),
    where=st.sampled_from(["?", "#"]),
)
def test_secret_named_parameters_are_replaced(
    name: str, value: str, other: str, where: str
) -> None:
    url = f"https://svc.internal/predict{where}{other}&{name}={value}&{other}"
    assert redact_url(url) == f"https://svc.internal/predict{where}{other}&{name}=***&{other}"


@BOUNDED
@given(st.text(max_size=80))
def test_redaction_never_raises_and_is_idempotent(text: str) -> None:
    once = redact_text(text)
    assert redact_text(once) == once
    redact_url(text)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://user:pa/ss@host/x", "http://***@host/x"),  # raw `/` in the password
        ("http://user:12/ab@host", "http://***@host"),  # reads as port 12: still hidden
        ("http://tok3n@host:8000/p", "http://***@host:8000/p"),  # a token as user name
        ("http://host:8000/p?q=a@b", "http://host:8000/p?q=a@b"),  # `@` in a query value
        ("http://[::1]:8000/a@b", "http://[::1]:8000/a@b"),
        ("http://[::1", "http://[::1"),  # malformed: returned, never raises
        ("not a url", "not a url"),
    ],
)
def test_url_edge_cases(url: str, expected: str) -> None:
    assert redact_url(url) == expected


def test_headers_options_and_json_members_are_redacted() -> None:
    text = (
        "sent Authorization: Bearer abc.def-123 and X-API-Key: sk-1234; "
        "command: infermedic probe URL --api-key sk-9 --bearer=tok-7 "
        'body {"token": "aa", "tokenizer": "bert", "max_tokens": 5} Cookie: a=1; b=2'
    )
    out = redact_text(text)
    for secret in ("abc.def-123", "sk-1234", "sk-9", "tok-7", '"aa"', "a=1", "b=2"):
        assert secret not in out
    assert "Authorization: Bearer ***" in out and '"tokenizer": "bert"' in out
    # Prose about auth stays readable.
    prose = (
        "a Bearer token is required; Basic authentication; the Authorization header; "
        "--bearer also sets it"
    )
    assert redact_text(prose) == prose


def test_secret_names() -> None:
    assert all(
        is_secret_name(n)
        for n in ("api_key", "X-API-Key", "authToken", "client_secret", "passwd", "Cookie")
    )
    assert not any(
        is_secret_name(n) for n in ("key", "sort_key", "max_tokens", "tokenizer", "monkey")
    )
    assert is_secret_name("key", query=True) and is_secret_name("sig", query=True)


def test_remembered_secrets_are_hidden_anywhere_but_short_ones_are_not_global() -> None:
    remember_secret("s3cr3t/value")
    remember_secret("ab")  # too short to blank everywhere
    out = redact_text("echo: s3cr3t/value and s3cr3t%2Fvalue, ab")
    assert out == "echo: *** and ***, ab"


def test_data_redaction_keeps_structure_enums_and_numbers() -> None:
    data = {
        "inputs": {"url": "http://u:p@ss@h:1/x?api_key=k", "api_key": "sk", "pid": 7},
        "token_count": 12,
        "level": NotificationLevel.WARNING,
        "rows": [("x-api-key", "X-API-Key: abc")],
    }
    out = redact_data(data)
    assert out["inputs"] == {"url": "http://***@h:1/x?api_key=***", "api_key": "***", "pid": 7}
    assert out["token_count"] == 12 and out["level"] is NotificationLevel.WARNING
    assert out["rows"] == [("x-api-key", "X-API-Key: ***")]


SECRET = "hunter2-p@ss"
SECRET_URL = f"http://admin:{SECRET}@svc.internal:8000/predict?api_key=AKIA-9999&x=1"


def _leaky_report() -> Report:
    """A report whose engine forgot to redact anywhere it could."""
    return Report(
        tool="probe",
        findings=(
            Finding(
                code="LIVE009",
                name="auth-not-enforced",
                severity=Severity.HIGH,
                message=f"{SECRET_URL} answered without credentials",
                location=Location(url=SECRET_URL, endpoint="POST /predict"),
                evidence=(
                    Evidence(
                        kind=EvidenceKind.REQUEST,
                        action=f"POST {SECRET_URL} with Authorization: Bearer eyJhbGc.9876",
                        observed='200 OK: {"echo": {"X-API-Key": "AKIA-9999"}}',
                        values={"headers": {"authorization": "Bearer eyJhbGc.9876"}},
                    ),
                ),
            ),
        ),
        notifications=(
            Notification(level=NotificationLevel.WARNING, message=f"retry {SECRET_URL}"),
        ),
        inputs=(SECRET_URL,),
        tables=(
            Table(
                title="Inputs",
                columns=("what", "value"),
                rows=(("url", SECRET_URL + "/" + "segment" * 20),),
                key="inputs",
            ),
        ),
        measurements={"target": SECRET_URL, "checks": [{"command": f"probe {SECRET_URL}"}]},
    )


@pytest.mark.parametrize("fmt", list(OutputFormat))
def test_every_renderer_redacts_what_an_engine_forgot(fmt: OutputFormat) -> None:
    out = render(_leaky_report(), fmt)
    for secret in (SECRET, "hunter2", "AKIA-9999", "eyJhbGc.9876"):
        assert secret not in out, (fmt, secret)
    assert "svc.internal" in out  # the host is still there to read
