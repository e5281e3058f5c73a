"""Fast tests of the profile building blocks: harness, cores, detection, rules, py-spy parsing."""

from __future__ import annotations

import itertools
import pickle
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from infermedic.errors import ConfigError, ModelLoadError
from infermedic.model import Location
from infermedic.profile.attribution import summarise
from infermedic.profile.config import ProfileThresholds, thresholds_from_options
from infermedic.profile.context import ProfileObservations
from infermedic.profile.cores import available_cores, cgroup_quota
from infermedic.profile.detect import ModelFormat, detect_model
from infermedic.profile.results import ProfileResults, ThreadsResult
from infermedic.profile.rules import RULES
from infermedic.profile.rules.stage_dominates_call import StageDominatesCall
from infermedic.profile.rules.thread_oversubscription import ThreadOversubscription
from infermedic.profile.stacks import BLOCKING, MODEL, Frame, classify, parse_raw
from infermedic.profile.worker.sampling import stages_from_samples
from infermedic.profile.worker.timing import measure, quartiles
from infermedic.rules import Registry


def test_every_profile_rule_is_in_the_validated_catalogue() -> None:
    registry = Registry.default()
    for rule in RULES:
        assert registry.get(rule.code) is rule
        assert rule.measured
        assert "How it's measured" in rule.sections()


def test_quartiles_interpolate_like_numpy() -> None:
    assert quartiles([1.0, 2.0, 3.0, 4.0]) == (1.75, 2.5, 3.25)


def test_measure_counts_every_call_it_reports() -> None:
    counter = itertools.count()
    timing = measure(lambda: next(counter), min_time_s=0.001, max_time_s=0.02)
    calibration_calls = next(counter) - timing.calls
    assert timing.calls > 0 and calibration_calls > 0
    assert timing.calls == timing.blocks * timing.calls_per_block
    assert 0 < timing.q1_s <= timing.median_s <= timing.q3_s


def test_cgroup_v2_quota_and_unlimited(tmp_path: Path) -> None:
    (tmp_path / "cpu.max").write_text("150000 100000\n")
    assert cgroup_quota(tmp_path) == 1.5
    (tmp_path / "cpu.max").write_text("max 100000\n")
    assert cgroup_quota(tmp_path) is None
    cores = available_cores(tmp_path)
    assert cores.cores == cores.affinity


def test_cgroup_quota_caps_the_cores(tmp_path: Path) -> None:
    (tmp_path / "cpu.max").write_text("50000 100000\n")
    assert available_cores(tmp_path).cores == 1


def test_detection_by_header_and_the_object_reference(tmp_path: Path) -> None:
    pickled = tmp_path / "model.bin"
    pickled.write_bytes(pickle.dumps({"a": 1}, protocol=4))
    ref = detect_model(str(pickled))
    assert ref.format is ModelFormat.PICKLE and ref.size_bytes == pickled.stat().st_size
    assert detect_model("some_pkg.module:model").format is ModelFormat.OBJECT
    fake = tmp_path / "model.pkl"
    fake.write_text("hello")
    with pytest.raises(ModelLoadError, match="without a pickle or joblib header"):
        detect_model(str(fake))
    lightgbm = tmp_path / "model.txt"
    lightgbm.write_text("tree\nversion=v4\n")
    assert detect_model(str(lightgbm)).format is ModelFormat.LIGHTGBM


def test_unknown_threshold_key_is_a_config_error() -> None:
    assert thresholds_from_options({"stage-share": 0.6}).stage_share == 0.6
    with pytest.raises(ConfigError, match="stage-shares"):
        thresholds_from_options({"stage-shares": 0.6})


def _context(results: dict[str, object], **limits: float) -> ProfileObservations:
    return ProfileObservations(
        results=ProfileResults.from_phases(results),
        thresholds=ProfileThresholds(**limits),  # type: ignore[arg-type]
        location=Location(path="model.joblib"),
        action="infermedic profile model.joblib",
    )


def _timing(median_ms: float, spread_ms: float = 0.01) -> dict[str, float]:
    median = median_ms / 1e3
    return {
        "median_s": median,
        "q1_s": median - spread_ms / 1e3,
        "q3_s": median + spread_ms / 1e3,
        "iqr_s": 2 * spread_ms / 1e3,
        "calls": 50,
    }


def test_stage_rule_needs_both_share_and_absolute_time() -> None:
    def stages(pre_ms: float, model_ms: float) -> dict[str, object]:
        return {
            "stages": {
                "batches": [
                    {
                        "batch": 64,
                        "total_s": (pre_ms + model_ms) / 1e3,
                        "call": _timing(pre_ms + model_ms),
                        "stages": [
                            {"name": "clean", "role": "preprocessing", "timing": _timing(pre_ms)},
                            {"name": "clf", "role": "model", "timing": _timing(model_ms)},
                        ],
                    }
                ]
            }
        }

    assert list(StageDominatesCall().check(_context(stages(3.0, 1.0))))
    assert not list(StageDominatesCall().check(_context(stages(0.8, 0.2))))  # under 1 ms
    assert not list(StageDominatesCall().check(_context(stages(1.5, 2.0))))  # under half
    assert list(StageDominatesCall().check(_context(stages(0.8, 0.2), stage_min_ms=0.5)))


def test_thread_rule_ignores_differences_within_the_spread() -> None:
    def threads(loaded_ms: float, single_ms: float, spread_ms: float) -> dict[str, object]:
        def row(setting: str, workers: int, loaded: bool, ms: float) -> dict[str, object]:
            return {
                "dimension": "n_jobs",
                "setting": setting,
                "workers": workers,
                "as_loaded": loaded,
                "timings": {"1": _timing(ms, spread_ms)},
            }

        return {
            "threads": {
                "cores": 2,
                "batches": [1],
                "rows": [
                    row("n_jobs=-1", 2, True, loaded_ms),
                    row("n_jobs=1", 1, False, single_ms),
                ],
            }
        }

    assert list(ThreadOversubscription().check(_context(threads(12.0, 3.0, 0.5))))
    assert not list(ThreadOversubscription().check(_context(threads(12.0, 3.0, 5.0))))
    assert not list(ThreadOversubscription().check(_context(threads(3.0, 3.1, 0.1))))


def _typed_threads(threads: dict[str, object]) -> ThreadsResult:
    typed = ProfileResults.from_phases({"threads": threads}).threads
    assert typed is not None
    return typed


def test_a_measured_thread_speedup_without_a_finding_says_why() -> None:
    from infermedic.profile.rules.thread_oversubscription import unjudged_thread_effects

    def row(setting: str, workers: int, loaded: bool, passes: list[float]) -> dict[str, object]:
        cells = [{"1": _timing(ms, 0.5)} for ms in passes]
        best = min(passes)
        return {
            "dimension": "n_jobs",
            "setting": setting,
            "workers": workers,
            "as_loaded": loaded,
            "timings": {"1": _timing(best, 0.5)},
            "pass_timings": cells,
        }

    def threads(loaded: list[float], single: list[float]) -> dict[str, object]:
        rows = [row("n_jobs=-1", 2, True, loaded), row("n_jobs=1", 1, False, single)]
        return {"cores": 2, "batches": [1], "rows": rows}

    # Cut short: each setting timed once. No finding, and a note with the measured effect.
    once = threads([12.0], [4.0])
    assert not list(ThreadOversubscription().check(_context({"threads": once})))
    (reason,) = unjudged_thread_effects(_typed_threads(once), ProfileThresholds())
    assert "n_jobs=1 3.0x faster at batch 1" in reason and "one pass only" in reason
    # Two passes that disagree: the weaker pass is named.
    split = threads([12.0, 12.0], [4.0, 11.5])
    assert not list(ThreadOversubscription().check(_context({"threads": split})))
    (reason,) = unjudged_thread_effects(_typed_threads(split), ProfileThresholds())
    assert "only 1.0x in one of the two passes" in reason
    # Reported as a finding: nothing to explain. No effect at all: nothing either.
    both = threads([12.0, 12.0], [4.0, 4.2])
    assert list(ThreadOversubscription().check(_context({"threads": both})))
    assert unjudged_thread_effects(_typed_threads(both), ProfileThresholds()) == []
    assert (
        unjudged_thread_effects(
            _typed_threads(threads([4.0, 4.0], [4.0, 4.1])), ProfileThresholds()
        )
        == []
    )
    # The same clear effect while other processes used most of the 2 cores: the loaded
    # setting's 2 workers could not each have a core, so the host explains it: a note.
    busy = {**both, "host_busy_cores": 1.6}
    assert not list(ThreadOversubscription().check(_context({"threads": busy})))
    (reason,) = unjudged_thread_effects(_typed_threads(busy), ProfileThresholds())
    assert "other processes used 1.6 of the 2 core(s)" in reason and "quiet host" in reason
    # Below the threshold, or with the loaded workers' cores left free: the finding stands.
    for quiet in ({**both, "host_busy_cores": 0.3}, {**both, "cores": 4, "host_busy_cores": 1.5}):
        assert list(ThreadOversubscription().check(_context({"threads": quiet})))
        assert unjudged_thread_effects(_typed_threads(quiet), ProfileThresholds()) == []
    # A threshold from the config file moves the line.
    strict = ProfileThresholds(thread_busy_host_cores=2.0)
    assert unjudged_thread_effects(_typed_threads(busy), strict) == []


SP = "/venv/lib/python3.11/site-packages"
STD = "/usr/lib/python3.11"
LOOP = (
    f"thread (10): MainThread;<module> ({SP}/uvicorn/__main__.py:4);"
    f"run ({STD}/asyncio/runners.py:190);Runner.run ({STD}/asyncio/runners.py:118)"
)
PREDICT = f"{LOOP};predict (/srv/app.py:21)"
FOREST = f"ForestClassifier.predict_proba ({SP}/sklearn/ensemble/_forest.py"
WORK = [
    f"{PREDICT};{FOREST}:950);_check ({SP}/sklearn/utils/validation.py:100) 10",
    f"{PREDICT};{FOREST}:960) 50",
]
RAW_ALL = "\n".join(
    [
        *WORK,
        f"{LOOP} 30",
        f"{LOOP};handler (/srv/app.py:30) 10",
        f"thread (11): worker;Thread._bootstrap ({STD}/threading.py:1002);"
        f"_worker ({STD}/concurrent/futures/thread.py:81) 90",
    ]
)
RAW_ACTIVE = "\n".join(WORK)


def test_live_samples_are_split_by_thread_and_category() -> None:
    # Line 30 of the service, off CPU on the loop, is a synchronous sleep: a blocking call.
    def source(path: str, line: int) -> str:
        return "    time.sleep(0.01)\n" if (path, line) == ("/srv/app.py", 30) else ""

    summary = summarise(parse_raw(RAW_ALL), parse_raw(RAW_ACTIVE), source=source)
    loop = summary["loop_thread"]
    assert loop is not None and loop["name"] == "thread (10): MainThread"
    assert loop["samples"] == 100
    # The model call includes its input validation: one place, 60 samples.
    assert loop["category_samples"][MODEL] == 60
    assert loop["category_samples"][BLOCKING] == 10
    assert loop["category_samples"]["awaiting (idle loop)"] == 30
    assert loop["held_samples"] == 70
    assert loop["busy_share"] == pytest.approx(0.7)
    assert [(p["function"], p["line"], p["samples"]) for p in loop["places"]] == [
        ("predict", 21, 60),
        ("handler", 30, 10),
    ]
    worker = next(t for t in summary["threads"] if not t["event_loop"])
    assert worker["idle_samples"] == 90


def test_classify_prefers_the_innermost_recognised_frame() -> None:
    frames = (
        Frame(function="predict", path="/srv/app.py", line=3),
        Frame(function="dumps", path="/py/json/__init__.py", line=231),
    )
    assert classify(frames) == "serialisation"


SITE = "/venv/lib/python3.11/site-packages"
SAMPLER = "_in_model (/src/infermedic/profile/sampling.py:60)"


def _samples(rows: list[tuple[list[str], int]]) -> Counter[tuple[str, tuple[str, ...]]]:
    stacks: Counter[tuple[str, tuple[str, ...]]] = Counter()
    for frames, count in rows:
        stacks[("thread (1): MainThread", ("main (/w.py:1)", SAMPLER, *frames))] += count
    return stacks


def test_sampled_stages_look_through_a_wrapper_and_mark_postprocessing() -> None:
    predict = "predict (/app/model.py:{})"
    score = "Scorer._score (/app/model.py:{})"
    forest = f"ForestClassifier.predict_proba ({SITE}/sklearn/ensemble/_forest.py:900)"
    rows = [
        ([predict.format(10), score.format(20), "featurize (/app/features.py:5)"], 50),
        ([predict.format(10), score.format(21), forest], 30),
        ([predict.format(10), score.format(22), "to_labels (/app/model.py:40)"], 15),
        ([predict.format(11)], 5),  # the entry's own line after the wrapper returned
    ]
    result = stages_from_samples(_samples(rows))
    assert result["status"] == "sampled"
    stages = {s["name"]: s for s in result["stages"]}
    # predict holds 95% and is a wrapper of model and other work: its callees are the stages.
    assert set(stages) == {"featurize", "ForestClassifier.predict_proba", "to_labels"}
    assert stages["featurize"]["role"] == "preprocessing"
    assert stages["featurize"]["called_at"] == "/app/model.py:20"
    assert stages["ForestClassifier.predict_proba"]["role"] == "model"
    assert stages["to_labels"]["role"] == "postprocessing"
    assert stages["featurize"]["share"] == pytest.approx(50 / 95)


def test_sampled_stages_of_pure_python_are_not_judged() -> None:
    rows = [
        (["score (/app/model.py:3)", "weights (/app/model.py:9)"], 70),
        (["score (/app/model.py:4)", "squash (/app/model.py:12)"], 30),
    ]
    stages = stages_from_samples(_samples(rows))["stages"]
    assert {s["role"] for s in stages} == {"code"}


def test_sampled_stages_without_samples_in_the_model_say_so() -> None:
    stacks: Counter[tuple[str, tuple[str, ...]]] = Counter(
        {("thread (1): MainThread", ("main (/w.py:1)", "poll (/lib/subprocess.py:3)")): 9}
    )
    assert stages_from_samples(stacks)["status"] == "unavailable"


def test_label_agreement_of_one_probability_per_row_uses_the_decision_side() -> None:
    from infermedic.profile.worker.outputs import parity

    proba = np.array([0.1, 0.49, 0.51, 0.9])
    nudged = proba + np.array([0.001, 0.0, -0.02, 0.0])  # row 2 crosses 0.5
    result = parity(proba, nudged, classifier=True)
    assert result["label_agreement"] == 0.75
    margins = np.array([-2.0, 0.3, 1.5])
    assert parity(margins, margins + 0.01, classifier=True)["label_agreement"] == 1.0
    labels = np.array([0.0, 1.0, 2.0])  # multi:softmax gives class ids as floats
    assert parity(labels, np.array([0.0, 1.0, 1.0]), classifier=True)["label_agreement"] == (
        pytest.approx(2 / 3)
    )


def test_sampling_without_py_spy_says_why(monkeypatch: pytest.MonkeyPatch) -> None:
    # A stand-in for a machine without py-spy: the real lookup is replaced to fail as it would.
    from infermedic.errors import EngineUnavailable
    from infermedic.profile import pyspy
    from infermedic.profile.worker import sampling

    def missing() -> str:
        raise EngineUnavailable("py-spy is not installed")

    monkeypatch.setattr(pyspy, "find_py_spy", missing)
    calls: list[int] = []
    result = sampling.sample_call(lambda: calls.append(1), seconds=1.0)
    assert result == {"status": "unavailable", "reason": "py-spy is not installed"}
    assert calls == []  # nothing ran: no samples would have been taken


def test_foreign_cpu_counts_other_processes_not_our_own() -> None:
    """A spinner that is not our child counts as others' CPU; our own child's does not.
    Real processes, no mock. Both spin in the same window and their CPU shares are read
    from psutil, so the bounds hold however busy the host is."""
    import os
    import signal
    import subprocess
    import sys
    import time

    import psutil

    from infermedic.profile.worker.host_load import ForeignCpu

    spin = "import time\nend = time.monotonic() + 30\nwhile time.monotonic() < end: pass"
    # the shell exits at once, so the spinner is re-parented: not our descendant
    shell = subprocess.run(
        ["sh", "-c", f'"{sys.executable}" -c "{spin}" >/dev/null 2>&1 & echo $!'],
        capture_output=True,
        text=True,
        check=True,
    )
    stranger = psutil.Process(int(shell.stdout.strip()))
    child = subprocess.Popen([sys.executable, "-c", spin])
    try:
        time.sleep(0.3)
        mine = psutil.Process(child.pid)

        def cpu(p: psutil.Process) -> float:
            t = p.cpu_times()
            return t.user + t.system

        before = time.monotonic(), cpu(stranger), cpu(mine)
        others = ForeignCpu()
        time.sleep(1.5)
        used = others.cores_used()
        elapsed = time.monotonic() - before[0]
        stranger_share = (cpu(stranger) - before[1]) / elapsed
        child_share = (cpu(mine) - before[2]) / elapsed
    finally:
        os.kill(stranger.pid, signal.SIGKILL)
        child.kill()
        child.wait()
    cores = len(os.sched_getaffinity(0))
    assert used is not None
    assert used >= stranger_share - 0.15, (used, stranger_share)
    assert child_share > 0.2, child_share  # the child did run
    assert used <= cores - child_share + 0.15, (used, child_share, cores)


def test_foreign_cpu_under_a_quota_reads_the_cgroup_usage(tmp_path: Path) -> None:
    """With a quota below the affinity set, other tenants of the host are not contention:
    the cgroup's own usage (cpu.stat) minus this process is."""
    import os
    import time

    from infermedic.profile.worker.host_load import ForeignCpu

    if len(os.sched_getaffinity(0)) < 2:
        pytest.skip("needs an affinity set of 2 or more CPUs to stand for a quota below it")
    stat = tmp_path / "cpu.stat"
    stat.write_text("usage_usec 1000000\nuser_usec 1\n")
    others = ForeignCpu(cores=1, root=tmp_path)
    time.sleep(0.5)
    stat.write_text("usage_usec 1500000\nuser_usec 1\n")  # the cgroup used 0.5 s more
    used = others.cores_used()
    # 0.5 s of the cgroup's CPU over at least 0.5 s, less this process's own (it slept)
    assert used is not None and 0.3 < used <= 1.0, used
    stat.write_text("no usage here\n")
    assert ForeignCpu(cores=1, root=tmp_path).cores_used() is None
