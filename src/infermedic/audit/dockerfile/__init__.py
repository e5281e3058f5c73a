"""Dockerfile parsing, server command analysis and the DKR rules."""
