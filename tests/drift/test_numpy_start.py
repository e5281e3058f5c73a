"""How the drift commands start numpy: the CPU test and the variables, on recorded cpuinfo."""

from __future__ import annotations

from pathlib import Path

from infermedic.drift.numpy_start import (
    avx512_sort_is_slow,
    first_cpu,
    read_first_cpu,
    start_variables,
)

_FLAGS_ZEN4 = (
    "fpu vme de pse tsc sse sse2 avx f16c avx2 bmi1 bmi2 avx512f avx512dq avx512ifma avx512cd "
    "avx512bw avx512vl avx512_bf16 avx512vbmi avx512_vbmi2 gfni vaes avx512_vnni avx512_bitalg"
)
_FLAGS_AVX2 = "fpu vme de pse tsc sse sse2 avx f16c avx2 bmi1 bmi2 fma"


def _cpuinfo(vendor: str, family: int, model: int, flags: str, cpus: int = 2) -> str:
    block = (
        "processor\t: {n}\n"
        f"vendor_id\t: {vendor}\n"
        f"cpu family\t: {family}\n"
        f"model\t\t: {model}\n"
        "model name\t: a processor\n"
        f"flags\t\t: {flags}\n"
        "bogomips\t: 5192.28\n"
    )
    return "\n".join(block.format(n=n) for n in range(cpus)) + "\n"


ZEN4 = _cpuinfo("AuthenticAMD", 25, 17, _FLAGS_ZEN4)  # EPYC 9004 (Genoa)
ZEN3 = _cpuinfo("AuthenticAMD", 25, 1, _FLAGS_AVX2)  # EPYC 7003 (Milan): same family
ZEN5 = _cpuinfo("AuthenticAMD", 26, 2, _FLAGS_ZEN4)  # EPYC 9005 (Turin): the store fixed
INTEL = _cpuinfo("GenuineIntel", 6, 143, _FLAGS_ZEN4)  # Sapphire Rapids


def test_only_zen4_has_the_slow_avx512_sort() -> None:
    assert avx512_sort_is_slow(first_cpu(ZEN4))
    for other in (ZEN3, ZEN5, INTEL, ""):
        assert not avx512_sort_is_slow(first_cpu(other))


def test_the_first_block_is_read_and_a_later_one_does_not_override_it() -> None:
    text = ZEN4 + _cpuinfo("GenuineIntel", 6, 143, _FLAGS_ZEN4, cpus=1).replace(
        "processor\t: 0", "processor\t: 2"
    )
    cpu = first_cpu(text)
    assert cpu["vendor_id"] == "AuthenticAMD" and cpu["processor"] == "0"


def test_the_variables_keep_what_the_user_set() -> None:
    zen4 = first_cpu(ZEN4)
    assert start_variables({}, zen4) == {
        "OPENBLAS_NUM_THREADS": "1",
        "NPY_DISABLE_CPU_FEATURES": "X86_V4",
    }
    assert start_variables({}, first_cpu(INTEL)) == {"OPENBLAS_NUM_THREADS": "1"}
    # the user's own choices, an empty one included, are theirs
    assert start_variables({"NPY_DISABLE_CPU_FEATURES": ""}, zen4) == {"OPENBLAS_NUM_THREADS": "1"}
    assert start_variables({"OPENBLAS_NUM_THREADS": "4"}, zen4) == {
        "NPY_DISABLE_CPU_FEATURES": "X86_V4"
    }


def test_cpuinfo_is_read_up_to_the_first_block_and_a_missing_file_is_no_cpu(
    tmp_path: Path,
) -> None:
    path = tmp_path / "cpuinfo"
    path.write_text(ZEN4 + "\n" + "x" * 10_000_000)  # a huge tail is never read
    assert avx512_sort_is_slow(read_first_cpu(path))
    assert read_first_cpu(tmp_path / "missing") == {}
    path.write_bytes(b"\xff\xfe\x00vendor_id: AuthenticAMD\n")  # not text: no crash
    assert not avx512_sort_is_slow(read_first_cpu(path))
