"""Two point files, one question: same distribution? (``gankit twosample``)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gankit.data import load_points
from gankit.errors import UserError
from gankit.metrics.evaluate import check_test_settings
from gankit.metrics.twosample import MIN_ROWS, all_tests, check_samples


# Centred data whose largest |x| reaches 2**SCALE_EXPONENT is scaled down by a power of 2:
# float32's squared distances of 2**SCALE_EXPONENT stay far below its limit of 3.4e38.
SCALE_EXPONENT = 40


def compare_files(a: str | Path, b: str | Path, alpha: float = 0.05, seed: int = 0,
                  permutations: int = 999) -> dict[str, Any]:
    """MMD, energy and classifier tests of the points in file ``a`` against file ``b``.

    Raises:
        UserError: unreadable files, NaN or infinite values,
            non-numeric cells, fewer than 4 rows, different dimensions, or
            invalid settings; each message names the file at fault.

    Returns:
        ``{"a", "b", "alpha", "seed", "permutations", "tests": [...], "different": bool}``;
        each test has ``rejects`` at level alpha.
    """
    check_test_settings(alpha, seed, permutations)
    x, y = load_points(a, np.float64, training=False), load_points(b, np.float64, training=False)
    for path, points in ((a, x), (b, y)):
        if points.shape[0] < MIN_ROWS:
            raise UserError(f"{path}: {points.shape[0]} points; a two-sample test needs at least {MIN_ROWS}")
    if x.shape[1] != y.shape[1]:
        raise UserError(f"{a} has {x.shape[1]} columns but {b} has {y.shape[1]}: the dimensions must match")
    x, y, scale = _centred(x, y)
    check_samples(x, y)
    tests = all_tests(x, y, permutations=permutations, generator=torch.Generator().manual_seed(seed))
    for t in tests:
        if t.name == "energy":  # the one statistic in the data's units; the others have none
            t.statistic *= scale
    return {
        "a": str(a), "b": str(b), "alpha": alpha, "seed": seed, "permutations": permutations,
        "tests": [{**t.to_dict(), "rejects": t.rejects(alpha)} for t in tests],
        "different": any(t.rejects(alpha / len(tests)) for t in tests),
    }


def _centred(x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, float]:
    """Both samples moved by their pooled mean and scaled by a power of 2 in float64, then float32.

    A common translation changes no test's statistic or p-value (they depend on
    distances), and keeps a common offset such as 1e8 from rounding the data
    away in float32. Data larger than ``2**SCALE_EXPONENT`` is divided by the
    power of 2 that brings it below (exact in floating point): the kernel tests
    and the classifier do not change with the scale, the energy statistic
    scales with it, and squared distances stay finite in float32.

    Returns:
        the two float32 samples and the scale they were divided by (1.0 for most data).
    """
    pooled = torch.cat([x, y])
    centred = pooled - pooled.mean(0)
    largest = float(centred.abs().max())
    scale = 2.0 ** max(0, math.frexp(largest)[1] - SCALE_EXPONENT)
    centred = (centred / scale).float()
    return centred[:len(x)], centred[len(x):], scale


def format_comparison(result: dict[str, Any]) -> str:
    """A readable table and a one-line verdict (Bonferroni over the tests)."""
    first = result["tests"][0]
    rows = [("test", "statistic", "p-value", f"at alpha={result['alpha']:g}")]
    for t in result["tests"]:
        rows.append((t["name"], f"{t['statistic']:.4g}", f"{t['p_value']:.4g}", "different" if t["rejects"] else "same"))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = [f"{result['a']} ({first['n_x']} points) vs {result['b']} ({first['n_y']} points)", ""]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    k = len(result["tests"])
    verdict = ("DIFFERENT: some test rejects 'same distribution'" if result["different"]
               else "NOT DISTINGUISHED: no test rejects 'same distribution'")
    lines += ["", f"verdict (Bonferroni over {k} tests, p <= {result['alpha'] / k:.3g}): {verdict}"]
    return "\n".join(lines)
