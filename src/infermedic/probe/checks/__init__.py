"""The measuring steps of a probe run; each fills part of the `ProbeContext`."""
