"""Dependency file parsing and the PKG rules."""
