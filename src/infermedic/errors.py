"""The exceptions library code raises; the CLI turns each into one line and exit code 2.

```
InfermedicError
├── ConfigError          bad settings file, unknown rule code, invalid option value
├── InputError           a missing or unreadable path, or a dataset or model that cannot be used
│   ├── DatasetError     data that cannot be read or compared
│   ├── ModelLoadError   a model artifact that cannot be loaded
│   └── RegistryError    the model registry is unreachable, refuses, or lacks the model/alias
├── ProbeError           the live target cannot be probed
│   └── TargetUnreachable every request failed to connect
└── EngineUnavailable    an optional engine (Spark, torch, py-spy) is not installed or cannot start
```

A single bad file or a crashing rule is not an error: it becomes a `Notification` and the
run goes on. Any other exception escaping the library is a bug.
"""

from __future__ import annotations

from collections.abc import Iterable


class InfermedicError(Exception):
    """Base of every error infermedic raises on purpose.

    `hint` is one line of advice the CLI prints under the message.
    """

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint


class ConfigError(InfermedicError):
    """Invalid settings: a bad config file, unknown rule code or option value."""


class InputError(InfermedicError):
    """An input the user named cannot be used."""


class DatasetError(InputError):
    """Data that cannot be read or compared."""


class ModelLoadError(InputError):
    """A model artifact that cannot be loaded."""


class RegistryError(InputError):
    """The model registry cannot be read: unreachable, permission denied, no such model,
    version or alias, or an artifact that fails to download."""


class ProbeError(InfermedicError):
    """The live target cannot be probed."""


class TargetUnreachable(ProbeError):
    """Every request to the target failed to connect."""


class EngineUnavailable(InfermedicError):
    """An optional engine or tool is missing or cannot start."""


def did_you_mean(
    word: str, choices: Iterable[str], *, n: int = 2, quote: bool = True, case_fold: bool = False
) -> str:
    """The one did-you-mean: `; did you mean 'audit'?` for the closest `choices` to a
    mistyped `word` (quoted), or `did you mean LIVE007?` (`quote=False`, for codes and rule
    names, the word compared upper- and lower-cased with `case_fold`); `` when none is close."""
    import difflib

    options = list(choices)
    words = (word.upper(), word.lower()) if case_fold else (word,)
    close = [c for w in words for c in difflib.get_close_matches(w, options, n=n, cutoff=0.6)]
    close = list(dict.fromkeys(close))[:n]
    if not close:
        return ""
    if not quote:
        return "did you mean " + " or ".join(close) + "?"
    return "; did you mean " + " or ".join(repr(c) for c in close) + "?"
