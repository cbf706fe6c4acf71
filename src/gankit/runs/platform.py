"""Where a run was made: the software and the kernels its float32 numbers depend on.

The same seed gives the same bits on the same machine with the same software
(tested directly: a run twice, killed and resumed, alone and in a sweep).
Across machines only what is computed portably is the same (the data drawn
from a target, the fits and closed forms of `gankit.metrics.gaussian`):
training is float32 arithmetic whose last bits depend on the instruction set
torch dispatches to (``ATEN_CPU_CAPABILITY``), on the BLAS NumPy and torch
call and on the device, and a GAN amplifies the last bit. So every
``summary.json`` and checkpoint records `platform_facts`, and a command that
compares two runs, or continues one, says so when `differences` finds any.
"""

from __future__ import annotations

import platform as _platform
import re
from functools import lru_cache
from typing import Any

import numpy as np

# The facts that decide a float32 run's bits; "python" is recorded but does not change them.
# (torch's thread count changes how its convolutions and reductions split their sums.)
DECIDING = ("machine", "cpu", "cpu_capability", "torch", "torch_blas", "torch_threads", "numpy", "numpy_blas",
            "device")


def platform_facts(device: str = "cpu") -> dict[str, Any]:
    """What this process computes with: versions, the CPU, its dispatched capability and BLAS.

    Args:
        device: the run's device (``"cpu"``, ``"cuda:0"``, ...); a CUDA device adds its name.

    Returns:
        A JSON-able dict with keys ``python``, ``machine``, ``cpu``, ``cpu_capability``
        (``torch.backends.cpu.get_cpu_capability()``: ``DEFAULT``, ``AVX2``, ``AVX512``, ...),
        ``torch``, ``torch_blas``, ``torch_threads``, ``numpy``, ``numpy_blas`` (library,
        version and the kernel it chose) and ``device``.
    """
    import torch

    facts = {**_static_facts(), "cpu_capability": torch.backends.cpu.get_cpu_capability(),
             "torch_threads": torch.get_num_threads(), "device": device}
    if device.startswith("cuda") and torch.cuda.is_available():
        facts["device"] = f"{device} ({torch.cuda.get_device_name(torch.device(device))})"
    return facts


@lru_cache(maxsize=1)
def _static_facts() -> dict[str, Any]:
    import torch

    blas = re.search(r"BLAS_INFO=([^,\s]+)", torch.__config__.show())
    return {
        "python": _platform.python_version(),
        "machine": _platform.machine(),
        "cpu": _cpu_model(),
        "torch": torch.__version__,
        "torch_blas": blas.group(1) if blas else "unknown",
        "numpy": np.__version__,
        "numpy_blas": _numpy_blas(),
    }


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.lower().startswith(("model name", "cpu model", "hardware")):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return _platform.processor() or "unknown"


def _numpy_blas() -> str:
    """NumPy's BLAS, its version and the kernel it runs (OpenBLAS picks one per CPU)."""
    try:
        from threadpoolctl import threadpool_info

        blas = [info for info in threadpool_info() if info.get("user_api") == "blas"]
        # NumPy's own (its wheel bundles one) before any other library's
        blas.sort(key=lambda info: "numpy" not in info.get("filepath", ""))
        if blas:
            return f"{blas[0]['internal_api']} {blas[0].get('version')} {blas[0].get('architecture')}"
    except Exception:  # threadpoolctl missing or unable to inspect: fall back to the build's record
        pass
    try:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        return f"{blas.get('name')} {blas.get('version')}"
    except Exception:
        return "unknown"


def differences(made: dict[str, Any] | None, here: dict[str, Any]) -> list[str]:
    """The deciding facts on which ``made`` (a run's record) and ``here`` differ, as 'key: a vs b'.

    A record without platform facts (a run from before they were recorded) is one difference.
    """
    if not isinstance(made, dict):
        return ["the run records no platform"]
    return [f"{key} {str(made.get(key))[:60]} vs {str(here.get(key))[:60]}" for key in DECIDING
            if made.get(key) != here.get(key)]  # (a hostile record's long values cut, so the note stays a line)


def note(what: str, made: dict[str, Any] | None, here: dict[str, Any]) -> str | None:
    """One line for a user when ``made`` differs from ``here``, else None.

    Example: ``note: this run was made on another platform (cpu_capability AVX2 vs AVX512); ...``
    """
    diff = differences(made, here)
    if not diff:
        return None
    if not isinstance(made, dict):  # written before gankit recorded platforms: unknown, not known to differ
        return (f"note: {what} does not record the platform it was made on; float32 results may differ "
                "from it in the last digits")
    return (f"note: {what} was made on another platform ({'; '.join(diff)}); float32 results agree "
            "only to rounding there, not bit for bit")


__all__ = ["DECIDING", "differences", "note", "platform_facts"]
