"""Secret redaction for everything infermedic writes: URLs, headers, commands, data, free text.

One module so every writer (reports, the audit log, error lines) hides the same things:

- the userinfo of a URL (`http://user:pass@host` → `http://***@host`), also when the
  password holds an unencoded `@` or `/`;
- URL query and fragment parameters named like a secret (`api_key`, `token`, `sig`, …);
- the values of auth headers (`Authorization: …`, `X-API-Key: …`, `Cookie: …`),
  `Bearer` tokens, and command-line options that carry secrets (`--api-key X`);
- the values of JSON keys and mapping keys named like a secret;
- every secret value the run was given (`remember_secret`), wherever it shows up, for
  example echoed back in a response body.

Redaction errs on the side of hiding: a false positive costs a `***` in a report, a false
negative leaks a credential.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import re
import threading
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote, unquote

REDACTED = "***"
# Secrets shorter than this are not replaced as bare text everywhere (a 2-character password
# would blank every occurrence of those letters); the structural rules still hide them.
MIN_KNOWN_SECRET = 4

# Words that make a name secret wherever they appear in it (`access_token`, `X-Auth-Token`).
_SECRET_WORDS = frozenset(
    {
        "token",
        "secret",
        "password",
        "passwd",
        "pwd",
        "passphrase",
        "signature",
        "auth",
        "authorization",
        "credential",
        "credentials",
        "cookie",
        "bearer",
        "apikey",
        "jwt",
    }
)
# `key` is secret only after one of these (`api_key`, `X-Api-Key`), not in `sort_key`.
_KEY_QUALIFIERS = frozenset(
    {"api", "access", "secret", "private", "client", "auth", "subscription", "master", "signing"}
)
# Names secret only as URL parameters: `?key=` (Google), `?sig=` (Azure SAS), `?pass=`.
_QUERY_ONLY = frozenset({"key", "sig", "pass", "code", "session", "sessionid", "sid"})
# Squashed names (`apikey`, `accesstoken`) that word splitting cannot see.
_SECRET_SUFFIXES = ("apikey", "token", "secret", "password", "passwd", "signature", "credential")

_known_lock = threading.Lock()
_known: set[str] = set()


def _words(name: str) -> list[str]:
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name)
    return [w for w in re.split(r"[^a-z0-9]+", spaced.lower()) if w]


@functools.lru_cache(maxsize=4096)  # pure, and a report asks of the same keys thousands of times
def is_secret_name(name: str, *, query: bool = False) -> bool:
    """True when a key, header or parameter called `name` holds a secret.

    `query=True` also counts the bare names services use for secrets in URLs (`key`, `sig`).
    """
    words = _words(name)
    if not words:
        return False
    if any(w in _SECRET_WORDS for w in words):
        return True
    if any(w == "key" and i > 0 and words[i - 1] in _KEY_QUALIFIERS for i, w in enumerate(words)):
        return True
    squashed = "".join(words)
    if squashed.endswith(_SECRET_SUFFIXES):
        return True
    return query and (squashed in _QUERY_ONLY or (len(words) == 1 and words[0] == "key"))


def remember_secret(value: str | None) -> None:
    """Hide `value` (and its URL-encoded form) in everything rendered from now on."""
    if not value or len(value) < MIN_KNOWN_SECRET:
        return
    with _known_lock:
        _known.add(value)
        encoded = quote(value, safe="")
        if encoded != value:
            _known.add(encoded)


def known_secrets() -> tuple[str, ...]:
    with _known_lock:
        return tuple(_known)


def forget_secrets() -> None:
    """Drop every remembered secret (tests; a long-lived process between runs)."""
    with _known_lock:
        _known.clear()


# --- URLs -----------------------------------------------------------------------------------

# A URL inside text: a scheme, `://`, then up to whitespace or a character a URL cannot hold
# raw that ends it in JSON, HTML or prose (`"`, `<`, `>`, a backtick, `\\`). A `'` is a legal
# URL character (and may be in a password), so it does not end one.
_URL_IN_TEXT = re.compile(r"""[A-Za-z][A-Za-z0-9+.\-]*://[^\s"<>`\\]*""")


def redact_url(url: str) -> str:
    """`url` with its userinfo and secret-named query/fragment parameters replaced by `***`.

    Never raises, whatever the input: a malformed URL is redacted as well as it can be read.
    """
    scheme_end = url.find("://")
    if scheme_end < 0:
        return url
    head, rest = url[: scheme_end + 3], url[scheme_end + 3 :]
    rest = _redact_userinfo(rest)
    return head + _redact_params(rest)


def _redact_userinfo(rest: str) -> str:
    end = _first_of(rest, "/?#")
    authority = rest[:end]
    at = authority.rfind("@")
    if at >= 0:
        return REDACTED + rest[at:]
    # An unencoded `/` in a password ends the authority early (`http://user:pa/ss@host`, or
    # `user:12/ab@host`, which reads as host `user`, port 12). With a `:` in the authority and
    # an `@` further on, the part up to that `@` is taken for userinfo: a path holding `@`
    # after a port (`host:8000/users/@me`) is over-redacted, which leaks nothing.
    if ":" not in authority or authority.startswith("["):
        return rest
    at = rest.rfind("@", end, _first_of(rest, "?#"))
    return rest if at < 0 else REDACTED + rest[at:]


def _redact_params(rest: str) -> str:
    query_at = _first_of(rest, "?#")
    if query_at >= len(rest):
        return rest
    out = [rest[:query_at]]
    # The query (after `?`) and the fragment (after `#`, where OAuth puts `access_token`).
    for piece in re.split(r"([?#])", rest[query_at:]):
        if piece in ("?", "#") or not piece:
            out.append(piece)
            continue
        out.append(_redact_pairs(piece))
    return "".join(out)


def _redact_pairs(text: str) -> str:
    parts = re.split(r"([&;])", text)
    for i, part in enumerate(parts):
        name, eq, value = part.partition("=")
        if eq and value and is_secret_name(unquote(name), query=True):
            parts[i] = f"{name}={REDACTED}"
    return "".join(parts)


def _first_of(text: str, chars: str, start: int = 0) -> int:
    found = [i for i in (text.find(c, start) for c in chars) if i >= 0]
    return min(found, default=len(text))


def strip_userinfo(url: str) -> tuple[str, str | None, str | None]:
    """`url` without `user:password@`, and the (percent-decoded) user and password.

    Uses the last `@` of the authority, so an unencoded `@` in a password stays in it.
    """
    scheme_end = url.find("://")
    if scheme_end < 0:
        return url, None, None
    head, rest = url[: scheme_end + 3], url[scheme_end + 3 :]
    end = _first_of(rest, "/?#")
    at = rest.rfind("@", 0, end)
    if at < 0:
        return url, None, None
    userinfo = rest[:at]
    user, colon, password = userinfo.partition(":")
    return head + rest[at + 1 :], unquote(user), unquote(password) if colon else None


# --- free text ------------------------------------------------------------------------------

_HEADER_NAMES = (
    r"authorization|proxy-authorization|"
    r"x-[a-z0-9-]*(?:key|token|secret|auth|signature|password)[a-z0-9-]*|"
    r"api[-_]?key|apikey"
)
# `Authorization: Bearer abc` / `x-api-key=abc` / `'X-API-Key': 'abc'`: the value is one
# token, after an auth scheme word when there is one.
_HEADER_LINE = re.compile(
    rf"""(?i)(\b(?:{_HEADER_NAMES})['"]?\s*[:=]\s*(?:[fbru]{{0,2}}['"])?"""
    r"""(?:(?:bearer|basic|digest|token|negotiate)\s+)?)([^\s'",;&}\]]+)"""
)
# Cookies hold several secrets (`a=1; b=2`): the rest of the line goes.
_COOKIE_LINE = re.compile(r"""(?i)(\b(?:set-)?cookie['"]?\s*:\s*['"]?)([^\r\n'"]+)""")
# A bearer token anywhere (`Bearer eyJhbGciOi…`): at least 8 characters with one non-letter,
# so prose ("a Bearer token") is left alone.
_BEARER = re.compile(r"\b(Bearer\s+)(?=[A-Za-z0-9._~+/=-]*[0-9._~+/=-])[A-Za-z0-9._~+/=-]{8,}")
# Command-line options that take a secret (`--api-key X`, `--bearer=X`). A value of letters
# only is prose ("--bearer also sets …") unless it follows `=`; the values a run was given
# are hidden anyway as remembered secrets.
_OPTION = re.compile(
    r"(--(?:api-key|bearer|token|password|secret|auth)"
    r"(?:=|\s+(?=\S*[^A-Za-z\s])))(?!\*\*\*)(\S+)",
    re.I,
)
# A JSON member named like a secret (`"token": "abc"`), as a server may echo it in a body.
_JSON_MEMBER = re.compile(r'("([A-Za-z0-9_.\-]+)"\s*:\s*")((?:[^"\\]|\\.)*)(")')


def redact_text(text: str, secrets: Iterable[str] = ()) -> str:
    """`text` with every secret this module can recognise replaced by `***`.

    `secrets` are values to hide beyond the remembered ones (exact matches).
    """
    if not text:
        return text
    values = sorted(
        {s for s in (*secrets, *known_secrets()) if s}, key=len, reverse=True
    )  # longest first, so a secret containing another is replaced whole
    for value in values:
        if value in text:
            text = text.replace(value, REDACTED)
    if ":" not in text and "=" not in text and "--" not in text and "Bearer" not in text:
        # Every pattern below needs one of these literally (a URL's `://`, a header's or JSON
        # member's `:`/`=`, an option's `--`, the case-sensitive `Bearer`): most report
        # strings (column names, numbers, prose) have none, and skip six regex passes.
        return text
    if "://" in text:
        text = _URL_IN_TEXT.sub(lambda m: redact_url(m.group(0)), text)
    text = _HEADER_LINE.sub(_header_value, text)
    text = _COOKIE_LINE.sub(_header_value, text)
    text = _BEARER.sub(lambda m: m.group(1) + REDACTED, text)
    text = _OPTION.sub(lambda m: m.group(1) + REDACTED, text)
    return _JSON_MEMBER.sub(_json_member, text)


def _header_value(match: re.Match[str]) -> str:
    if match.group(2) == REDACTED:
        return match.group(0)
    return match.group(1) + REDACTED


def _json_member(match: re.Match[str]) -> str:
    if not match.group(3) or match.group(3) == REDACTED or not is_secret_name(match.group(2)):
        return match.group(0)
    return match.group(1) + REDACTED + match.group(4)


# --- structured data ------------------------------------------------------------------------


def redact_data(value: Any, key: str = "", *, by_key: bool = True) -> Any:
    """`value` (dataclasses, mappings, sequences, strings) with every secret replaced.

    With `by_key`, a string under a mapping key named like a secret is replaced whole (numbers
    are kept: `token_count` is no secret). Strings pass through `redact_text`; enums, numbers
    and `None` are kept; frozen dataclasses are rebuilt with `dataclasses.replace`. What holds
    no secret comes back as the object given (not a copy).
    """
    if by_key and key and isinstance(value, str) and value and is_secret_name(key):
        return REDACTED
    if isinstance(value, enum.Enum):
        return value
    if isinstance(value, str):
        return redact_text(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        changes = {}
        for f in dataclasses.fields(value):
            if f.init:
                old = getattr(value, f.name)
                new = redact_data(old, by_key=by_key)
                if new is not old:
                    changes[f.name] = new
        # nothing hidden: the object itself (no rebuild, no second run of its checks)
        return dataclasses.replace(value, **changes) if changes else value
    if isinstance(value, Mapping):
        mapping = {k: redact_data(v, str(k), by_key=by_key) for k, v in value.items()}
        return value if type(value) is dict and _same(mapping.values(), value.values()) else mapping
    if isinstance(value, tuple | list):
        items = [redact_data(v, by_key=by_key) for v in value]
        if type(value) in (tuple, list) and _same(items, value):
            return value  # shared, not copied: callers serialise the result, never mutate it
        return tuple(items) if isinstance(value, tuple) else items
    return value


def _same(new: Iterable[Any], old: Iterable[Any]) -> bool:
    return all(a is b for a, b in zip(new, old, strict=True))
