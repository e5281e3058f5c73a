"""How the drift commands start numpy: the variables numpy reads once, at its import.

Two of them matter to drift, and both can only be set before numpy loads:

- `OPENBLAS_NUM_THREADS=1`. OpenBLAS starts a worker per core when it loads, and each
  spins ~0.1 s of CPU waiting for work (measured: `import numpy` 0.21 -> 0.14 s of CPU on
  2 cores; more cores, more waste). drift never calls BLAS (see `columnar._dot`).
- `NPY_DISABLE_CPU_FEATURES=X86_V4` on AMD Zen 4 (x86 family 25 with AVX-512). numpy sorts
  with x86-simd-sort, whose AVX-512 path stores each partition with the memory form of
  `vcompress`, which Zen 4 runs in microcode (AMD's Zen 4 optimization guide says to avoid
  it; OpenJDK turns its AVX-512 sort off on that family for the same reason). Measured on
  an EPYC of family 25, model 17, numpy 2.4: `np.sort` of 1M doubles 61 ms with AVX-512,
  9-12 ms with the AVX2 path; the saved-profile `infermedic drift` against 1M rows went
  1.2 -> 0.6 s. Sorting is most of drift's numeric work (`columnar.sorted_numbers`).
  numpy before 2.4 names its targets otherwise and ignores the name (tested on 1.26 and
  2.2: no error, no change); Zen 3 (family 25 without AVX-512) and Zen 5 (family 26) are
  left alone.

Only the drift commands set them, and only where the user set neither and numpy is not
loaded yet; both are removed again right after the import, so processes started later
(a profile worker running a user's model) inherit nothing. A library caller who imports
`infermedic.drift` gets numpy as their own process set it up.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

CPUINFO = Path("/proc/cpuinfo")
# numpy's name (2.4 and later) for the AVX-512 dispatch targets, sort's included
SLOW_SORT_FEATURES = "X86_V4"


def first_cpu(text: str) -> dict[str, str]:
    """The `key: value` lines of the first processor's block of /proc/cpuinfo."""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            if fields:
                break
            continue
        key, sep, value = line.partition(":")
        if sep:
            fields.setdefault(key.strip(), value.strip())
    return fields


def avx512_sort_is_slow(cpu: Mapping[str, str]) -> bool:
    """An AMD Zen 4 core: family 25 (0x19) with AVX-512 (Zen 3 shares the family, without it)."""
    if cpu.get("vendor_id") != "AuthenticAMD" or cpu.get("cpu family") != "25":
        return False
    return "avx512f" in cpu.get("flags", "").split()


def read_first_cpu(path: Path = CPUINFO) -> dict[str, str]:
    """The first processor's fields (reading stops at its block's end); {} where unreadable."""
    lines: list[str] = []
    try:
        with path.open(encoding="utf-8", errors="replace") as handle:
            for line in handle:
                if not line.strip() and lines:
                    break
                lines.append(line)
                if len(lines) > 200:  # one block is ~30 lines; never read a whole big host
                    break
    except OSError:
        return {}
    return first_cpu("".join(lines))


def start_variables(environ: Mapping[str, str], cpu: Mapping[str, str]) -> dict[str, str]:
    """What to set for numpy's import, the user's own choices kept."""
    wanted: dict[str, str] = {}
    if "OPENBLAS_NUM_THREADS" not in environ:
        wanted["OPENBLAS_NUM_THREADS"] = "1"
    if "NPY_DISABLE_CPU_FEATURES" not in environ and avx512_sort_is_slow(cpu):
        wanted["NPY_DISABLE_CPU_FEATURES"] = SLOW_SORT_FEATURES
    return wanted


@contextmanager
def numpy_for_drift() -> Iterator[None]:
    """numpy, first imported inside, loads with the variables above (see the module's
    docstring); the environment is as it was once numpy has loaded."""
    if "numpy" in sys.modules:
        yield
        return
    wanted = start_variables(os.environ, read_first_cpu() if sys.platform == "linux" else {})
    os.environ.update(wanted)
    try:
        import numpy  # noqa: F401 - loads while the variables are set
    finally:
        for name in wanted:
            os.environ.pop(name, None)
    yield
