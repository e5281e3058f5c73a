"""The version string: the one place it is written (pyproject reads it from here).

A literal, not `importlib.metadata.version()`: importing `importlib.metadata` costs about
0.1 s, paid by every command at start-up, and a literal is also right in an uninstalled tree.
"""

from __future__ import annotations

__version__ = "0.1.0"
