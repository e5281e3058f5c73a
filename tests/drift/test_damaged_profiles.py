"""Damaged saved profiles and bad thresholds: exit 2 with one line that names the problem.

Each damaged profile starts as a real profile of real data (`drift profile`), then one thing
is broken in its JSON the way files do get broken (hand edits, a cut-off write, another
version, garbage). `drift REF CUR`, `drift profile merge` and `drift profile --reference` must
all refuse it by name; merge must not write its output.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from infermedic.cli.app import main

Edit = Callable[[dict[str, Any]], None]
N = 600


def _col(data: dict[str, Any], kind: str) -> dict[str, Any]:
    return next(c for c in data["columns"] if c["kind"] == kind)


def _set(kind: str, *path: str, value: Any) -> Edit:
    def edit(data: dict[str, Any]) -> None:
        target = _col(data, kind)
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value

    return edit


def _drop(kind: str, *path: str) -> Edit:
    def edit(data: dict[str, Any]) -> None:
        target = _col(data, kind)
        for key in path[:-1]:
            target = target[key]
        del target[path[-1]]

    return edit


def _top(key: str, value: Any = None, *, drop: bool = False) -> Edit:
    def edit(data: dict[str, Any]) -> None:
        if drop:
            del data[key]
        else:
            data[key] = value

    return edit


def _bump_bin(data: dict[str, Any]) -> None:
    _col(data, "numeric")["numeric"]["binning"]["counts"][3] += 5


def _short_bins(data: dict[str, Any]) -> None:
    _col(data, "numeric")["numeric"]["binning"]["counts"].pop()


def _unsorted_edges(data: dict[str, Any]) -> None:
    edges = _col(data, "numeric")["numeric"]["binning"]["edges"]
    edges[2], edges[5] = edges[5], edges[2]


def _duplicate_column(data: dict[str, Any]) -> None:
    data["columns"].append(dict(data["columns"][0]))


def _negative_category(data: dict[str, Any]) -> None:
    counts = _col(data, "categorical")["categorical"]["counts"]
    counts[next(iter(counts))] = -4


def _extra_category(data: dict[str, Any]) -> None:
    _col(data, "categorical")["categorical"]["counts"]["zzz"] = 50


# name -> (edit of the JSON object, or a raw rewrite of the text; what the error must name)
JSON_EDITS: dict[str, tuple[Edit, str]] = {
    "negative variance": (_set("numeric", "numeric", "variance", value=-1.5), "variance"),
    "impossible variance": (_set("numeric", "numeric", "variance", value=1e9), "variance"),
    "mean outside range": (_set("numeric", "numeric", "mean", value=1e6), "mean"),
    "min above max": (_set("numeric", "numeric", "min", value=1e6), "min"),
    "missing rows": (_top("rows", drop=True), "'rows' is missing"),
    "missing columns": (_top("columns", drop=True), "'columns' is missing"),
    "missing nulls": (_drop("numeric", "nulls"), "'nulls' is missing"),
    "missing numeric summary": (_drop("numeric", "numeric"), "'numeric' is missing"),
    "missing variance": (_drop("numeric", "numeric", "variance"), "'variance' is missing"),
    "missing category counts": (_drop("categorical", "categorical", "counts"), "'counts'"),
    "wrong version": (_top("version", 99), "version 99"),
    "version as text": (_top("version", "1"), "version '1'"),
    "wrong format": (_top("format", "something-else"), "not an infermedic drift profile"),
    "count as fraction": (_set("numeric", "numeric", "count", value=12.5), "count"),
    "count as boolean": (_set("numeric", "rows", value=True), "rows"),
    "count too large": (_set("numeric", "numeric", "count", value=10**9), "count"),
    "nulls above rows": (_set("numeric", "nulls", value=10**6), "nulls"),
    "negative rows": (_top("rows", -3), "rows"),
    "column rows disagree": (_set("categorical", "rows", value=N + 1), "rows"),
    "bins do not add up": (_bump_bin, "binning.counts"),
    "bins missing one": (_short_bins, "binning.counts"),
    "edges unsorted": (_unsorted_edges, "edges"),
    "kll not base64": (_set("numeric", "numeric", "kll", value="%%%not base64%%%"), "kll"),
    "kll garbage bytes": (_set("numeric", "numeric", "kll", value="AAAAAAAAAAAAAAAA"), "kll"),
    "negative category count": (_negative_category, "counts"),
    "category counts do not add up": (_extra_category, "counts"),
    "unknown kind": (_set("numeric", "kind", value="ordinal"), "kind"),
    "duplicate column": (_duplicate_column, "appears twice"),
    "name not text": (_set("numeric", "name", value=7), "name"),
    "sources not a list": (_top("sources", "ref.csv"), "sources"),
}
RAW_EDITS: dict[str, tuple[Callable[[str], bytes], str]] = {
    "NaN count": (lambda t: t.replace('"nulls":0', '"nulls":NaN', 1).encode(), "NaN"),
    "Infinity minimum": (
        lambda t: t.replace('"min":', '"min":Infinity,"_x":', 1).encode(),
        "Infinity",
    ),
    "truncated": (lambda t: t[: len(t) // 2].encode(), "truncated JSON"),
    "binary garbage": (
        lambda t: np.random.default_rng(5).bytes(4000),
        "not UTF-8",
    ),
    "empty file": (lambda t: b"", "truncated JSON"),
    "a JSON list": (lambda t: b"[1, 2, 3]", "not a JSON object"),
    "deep nesting": (lambda t: b"[" * 200_000 + b"]" * 200_000, "not a readable drift profile"),
}


@pytest.fixture(scope="module")
def sound(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A real profile of real data, and current data to compare with it."""
    tmp = tmp_path_factory.mktemp("sound")
    rng = np.random.default_rng(61)
    for name in ("ref", "cur"):
        rows = "".join(f"{rng.normal(5, 2):.4f},{'abc'[i % 3]}\n" for i in range(N))
        (tmp / f"{name}.csv").write_text("x,c\n" + rows)
    profile = tmp / "ref.profile"
    with pytest.raises(SystemExit) as done:
        main(["drift", "profile", str(tmp / "ref.csv"), "-o", str(profile)])
    assert done.value.code == 0
    return profile, tmp / "cur.csv"


def _damaged(case: str, sound: Path, tmp: Path) -> tuple[Path, str]:
    text = sound.read_text()
    path = tmp / "damaged.profile"
    if case in JSON_EDITS:
        edit, named = JSON_EDITS[case]
        data = json.loads(text)
        edit(data)
        path.write_text(json.dumps(data))
    else:
        rewrite, named = RAW_EDITS[case]
        path.write_bytes(rewrite(text))
    return path, named


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    capsys.readouterr()
    with pytest.raises(SystemExit) as done:
        main(argv)
    _, err = capsys.readouterr()
    code = done.value.code
    return (code if isinstance(code, int) else 1), err


def _one_line(err: str, named: str) -> None:
    lines = [line for line in err.splitlines() if line.strip()]
    assert "Traceback" not in err
    assert lines and lines[0].startswith("error: ") and len(lines) <= 2, err
    assert named in lines[0], lines[0]


CASES = sorted([*JSON_EDITS, *RAW_EDITS])


def test_the_sound_profile_is_accepted(
    sound: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    profile, current = sound
    code, err = _run(["drift", str(profile), str(current), "--format", "json"], capsys)
    assert code in (0, 1), err
    merged = tmp_path / "merged.profile"
    code, err = _run(
        ["drift", "profile", "merge", str(profile), str(profile), "-o", str(merged)], capsys
    )
    assert code == 0 and json.loads(merged.read_text())["rows"] == 2 * N


@pytest.mark.parametrize("case", CASES)
def test_a_damaged_reference_profile_is_refused_by_name(
    case: str, sound: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    profile, current = sound
    damaged, named = _damaged(case, profile, tmp_path)
    code, err = _run(["drift", str(damaged), str(current), "--format", "json"], capsys)
    assert code == 2, err
    _one_line(err, named)


@pytest.mark.parametrize("case", CASES)
def test_merging_a_damaged_profile_is_refused_and_writes_nothing(
    case: str, sound: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    profile, _ = sound
    damaged, named = _damaged(case, profile, tmp_path)
    out = tmp_path / "merged.profile"
    code, err = _run(
        ["drift", "profile", "merge", str(profile), str(damaged), "-o", str(out)], capsys
    )
    assert code == 2, err
    _one_line(err, named)
    assert not out.exists()


@pytest.mark.parametrize("case", ["negative variance", "truncated", "wrong version"])
def test_binning_on_a_damaged_profile_is_refused(
    case: str, sound: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    profile, current = sound
    damaged, named = _damaged(case, profile, tmp_path)
    out = tmp_path / "cur.profile"
    argv = ["drift", "profile", str(current), "--reference", str(damaged), "-o", str(out)]
    code, err = _run(argv, capsys)
    assert code == 2, err
    _one_line(err, named)
    assert not out.exists()


def test_merging_profiles_of_different_layouts_is_refused(
    sound: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    profile, _ = sound
    data = json.loads(profile.read_text())
    data["columns"] = data["columns"][:1]
    other = tmp_path / "other.profile"
    other.write_text(json.dumps(data))
    out = tmp_path / "merged.profile"
    code, err = _run(
        ["drift", "profile", "merge", str(profile), str(other), "-o", str(out)], capsys
    )
    assert code == 2
    _one_line(err, "different columns")
    assert not out.exists()


# -- thresholds ------------------------------------------------------------------------------

BAD_FLAGS = [
    (["--alpha", "nan"], "alpha"),
    (["--alpha", "0"], "alpha"),
    (["--alpha", "1.5"], "alpha"),
    (["--psi-threshold", "-0.1"], "psi_threshold"),
    (["--psi-threshold", "inf"], "psi_threshold"),
    (["--wasserstein-threshold", "nan"], "wasserstein_threshold"),
    (["--js-threshold", "1.5"], "js_threshold"),
    (["--missing-rate-threshold", "-1"], "missing_rate_threshold"),
    (["--category-share-threshold", "2"], "category_share_threshold"),
    (["--out-of-range-threshold", "nan"], "out_of_range_threshold"),
]
BAD_CONFIG = [
    ("alpha = nan", "alpha"),
    ("psi-threshold = -inf", "psi_threshold"),
    ("js-threshold = -0.5", "js_threshold"),
    ("alpha = true", "alpha"),
    ('missing-rate-threshold = "lots"', "missing_rate_threshold"),
    ('exact-ks = "no"', "exact_ks"),
    ("min-rows = -5", "min_rows"),
    ("max-plot-categories = 0", "max_plot_categories"),
    ("exact-ks-max-rows = 1.5", "exact_ks_max_rows"),
]


@pytest.mark.parametrize(("flags", "named"), BAD_FLAGS)
def test_bad_threshold_flags_are_refused(
    flags: list[str], named: str, sound: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    profile, current = sound
    code, err = _run(["drift", str(profile), str(current), *flags], capsys)
    assert code == 2, err
    _one_line(err, named)


@pytest.mark.parametrize(("line", "named"), BAD_CONFIG)
def test_bad_thresholds_in_config_are_refused(
    line: str,
    named: str,
    sound: tuple[Path, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    profile, current = sound
    config = tmp_path / "pyproject.toml"
    config.write_text(f"[tool.infermedic.drift]\n{line}\n")
    code, err = _run(["drift", str(profile), str(current), "--config", str(config)], capsys)
    assert code == 2, err
    _one_line(err, named)


def test_edge_thresholds_are_accepted(
    sound: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    profile, current = sound
    argv = ["drift", str(profile), str(current), "--format", "json", "--psi-threshold", "0"]
    code, err = _run([*argv, "--js-threshold", "1", "--missing-rate-threshold", "0"], capsys)
    assert code in (0, 1), err
