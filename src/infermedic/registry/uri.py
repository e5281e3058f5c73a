"""Model URIs as MLflow writes them: `models:/NAME@ALIAS`, `models:/NAME/VERSION`,
`runs:/RUN_ID/PATH`, and the `NAME[@ALIAS]` form `--registry-model` takes."""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

from infermedic.errors import InputError

# MLflow's registered-model names may hold spaces, dots and dashes; not `/` or `@`.
_NAME = r"[^/@\s][^/@]*?"
_MODELS = re.compile(rf"^models:/(?P<name>{_NAME})(?:@(?P<alias>[\w.-]+)|/(?P<version>[^/]+))/?$")
_RUNS = re.compile(r"^runs:/(?P<run>[0-9a-fA-F]{8,64}|[\w-]+)/(?P<path>.+?)/?$")
_BARE = re.compile(rf"^(?P<name>{_NAME})(?:@(?P<alias>[\w.-]+))?$")


class UriKind(enum.StrEnum):
    ALIAS = "alias"  # models:/NAME@ALIAS
    VERSION = "version"  # models:/NAME/VERSION
    RUN = "run"  # runs:/RUN_ID/PATH


@dataclass(frozen=True, kw_only=True, slots=True)
class ModelUri:
    """A parsed model URI; `text` is what the user wrote."""

    text: str
    kind: UriKind
    name: str | None = None
    alias: str | None = None
    version: str | None = None
    run_id: str | None = None
    path: str | None = None

    def describe(self) -> str:
        match self.kind:
            case UriKind.ALIAS:
                return f"models:/{self.name}@{self.alias}"
            case UriKind.VERSION:
                return f"models:/{self.name}/{self.version}"
            case UriKind.RUN:
                return f"runs:/{self.run_id}/{self.path}"


def is_model_uri(text: str) -> bool:
    """True for text in the `models:/` or `runs:/` scheme (valid or not: a malformed one
    must be an error naming the URI forms, never a "file does not exist")."""
    return text.startswith(("models:/", "runs:/"))


def parse_model_uri(text: str) -> ModelUri:
    """Parse a `models:/` or `runs:/` URI; `InputError` with the accepted forms otherwise."""
    text = text.strip()
    models = _MODELS.match(text)
    if models is not None:
        version = models.group("version")
        if version is not None:
            if version.lower() == "latest" or not version.isdigit():
                raise InputError(
                    f"model URI {text!r} names version {version!r}, not a version number",
                    hint="pin a version (models:/NAME/3) or an alias (models:/NAME@champion); "
                    "an implicit latest changes under the service without a deploy",
                )
            return ModelUri(
                text=text, kind=UriKind.VERSION, name=models.group("name"), version=version
            )
        return ModelUri(
            text=text, kind=UriKind.ALIAS, name=models.group("name"), alias=models.group("alias")
        )
    runs = _RUNS.match(text)
    if runs is not None:
        return ModelUri(
            text=text, kind=UriKind.RUN, run_id=runs.group("run"), path=runs.group("path")
        )
    raise InputError(
        f"{text!r} is not a model URI infermedic understands",
        hint="use models:/NAME@ALIAS, models:/NAME/VERSION or runs:/RUN_ID/PATH",
    )


def parse_registry_model(text: str, *, default_alias: str = "champion") -> tuple[str, str]:
    """`NAME[@ALIAS]` (or `models:/NAME@ALIAS`) as (name, alias); the alias defaults to
    `default_alias`."""
    raw = text.strip()
    if raw.startswith("models:/"):
        uri = parse_model_uri(raw)
        if uri.kind is not UriKind.ALIAS or uri.name is None or uri.alias is None:
            raise InputError(
                f"--registry-model {text!r} must name an alias",
                hint="give NAME@ALIAS (the alias the service is meant to follow)",
            )
        return uri.name, uri.alias
    bare = _BARE.match(raw)
    if bare is None:
        raise InputError(
            f"--registry-model {text!r} is not NAME or NAME@ALIAS",
            hint="for example --registry-model churn@champion",
        )
    return bare.group("name"), bare.group("alias") or default_alias
