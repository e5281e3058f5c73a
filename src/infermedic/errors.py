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


def did_you_mean(word: str, choices: list[str] | tuple[str, ...]) -> str:
    """`; did you mean 'audit'?` for the closest choices to a mistyped `word`, else ``."""
    import difflib

    close = difflib.get_close_matches(word, list(choices), n=2, cutoff=0.6)
    if not close:
        return ""
    return "; did you mean " + " or ".join(repr(c) for c in close) + "?"
