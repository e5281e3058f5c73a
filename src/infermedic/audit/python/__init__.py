"""Python serving-code analysis: per-file context, the project index, and the SVC/XPL/MON rules."""
