"""The README's example models, written by `infermedic demo models DIR`.

`model.joblib` is a StandardScaler + RandomForestClassifier(n_jobs=-1) Pipeline (the thread
setting many services ship), and `scoring.py` is a plain Python entry point whose per-value
`featurize` runs before a LogisticRegression; `rows.csv` holds 256 input rows for it (a plain
callable states no input width, so `profile` needs `--input`). The README's `profile`
examples run on exactly these, so a reader can repeat them and the README tests do.
"""

from __future__ import annotations

from pathlib import Path

from infermedic.errors import InputError

__all__ = ["write_models"]

# Written verbatim: a reader profiles it as `infermedic profile scoring:predict`.
SCORING_SOURCE = '''\
"""A churn scorer with its features computed in Python, one value at a time."""

from __future__ import annotations

import math

import numpy as np
from sklearn.linear_model import LogisticRegression

N_FEATURES = 8


def featurize(rows):
    # per-value Python: the stage `infermedic profile` names as dominating the call
    out = []
    for row in rows:
        values = [float(v) for v in row]
        values += [math.log1p(abs(v)) for v in row]
        values += [math.sqrt(abs(v)) for v in row]
        out.append(values)
    return np.asarray(out)


def _train():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(500, N_FEATURES))
    y = (X[:, 0] + 0.5 * X[:, 1] > 0).astype(int)
    return LogisticRegression(max_iter=200).fit(featurize(X), y)


_MODEL = _train()


def predict(rows):
    """Churn probability per row of N_FEATURES numbers."""
    return _MODEL.predict_proba(featurize(np.asarray(rows, dtype=float)))[:, 1]
'''


def write_models(directory: Path, *, overwrite: bool = False) -> list[Path]:
    """Write `model.joblib`, `scoring.py` and `rows.csv` into `directory`; return their paths."""
    import joblib
    import numpy as np
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    model_path, scoring_path = directory / "model.joblib", directory / "scoring.py"
    rows_path = directory / "rows.csv"
    existing = [p for p in (model_path, scoring_path, rows_path) if p.exists()]
    if existing and not overwrite:
        raise InputError(
            f"{existing[0]} already exists", hint="pass --overwrite to replace the example models"
        )
    directory.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(4000, 8))
    y = (X[:, 0] + 0.5 * X[:, 1] - 0.25 * X[:, 2] > 0).astype(int)
    forest = RandomForestClassifier(n_estimators=50, max_depth=8, n_jobs=-1, random_state=0)
    joblib.dump(make_pipeline(StandardScaler(), forest).fit(X, y), model_path)
    scoring_path.write_text(SCORING_SOURCE, encoding="utf-8")
    header = ",".join(f"f{i}" for i in range(X.shape[1]))
    np.savetxt(rows_path, X[:256], delimiter=",", header=header, comments="", fmt="%.6f")
    return [model_path, scoring_path, rows_path]
