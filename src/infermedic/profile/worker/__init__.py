"""The worker side of `infermedic profile`: the only code that loads and calls a user's model.

It runs in its own process, `python -m infermedic.profile.worker` (`__main__.py`), with the
job as JSON on stdin, and streams JSON lines back to the parent (`infermedic.profile.runner`).
A pickle is code: nothing here is ever imported by the parent side, and nothing here imports
the parent side (tests/core/test_imports.py checks both directions).

- `__main__`: the process's entry, the phase loop and the protocol stream;
- `loaders`, `loaded`, `boosters`, `torch_ops`: loading each model format (an MLflow model's
  files are read by the shared `infermedic.profile.mlflow_model`);
- `inputs`, `outputs`: the request rows, and checking what the model returns;
- `phases`, `timing`, `thread_sweep`, `gpu`, `alternatives`, `sampling`: the measurements.
"""
