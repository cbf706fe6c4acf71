"""Two point files, one question: same distribution? (``gankit twosample``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from gankit.data import load_points
from gankit.errors import UserError
from gankit.metrics.evaluate import check_test_settings
from gankit.metrics.twosample import MIN_ROWS, all_tests, check_samples


def compare_files(a: str | Path, b: str | Path, alpha: float = 0.05, seed: int = 0,
                  permutations: int = 999) -> dict[str, Any]:
    """MMD, energy and classifier tests of the points in file ``a`` against file ``b``.

    Raises:
        UserError: unreadable files, NaNs, values beyond float32's range,
            non-numeric cells, fewer than 4 rows, different dimensions, or
            invalid settings; each message names the file at fault.

    Returns:
        ``{"a", "b", "alpha", "seed", "permutations", "tests": [...], "different": bool}``;
        each test has ``rejects`` at level alpha.
    """
    check_test_settings(alpha, seed, permutations)
    x, y = load_points(a, np.float64), load_points(b, np.float64)
    for path, points in ((a, x), (b, y)):
        if points.shape[0] < MIN_ROWS:
            raise UserError(f"{path}: {points.shape[0]} points; a two-sample test needs at least {MIN_ROWS}")
    if x.shape[1] != y.shape[1]:
        raise UserError(f"{a} has {x.shape[1]} columns but {b} has {y.shape[1]}: the dimensions must match")
    x, y = _centred(x, y)
    check_samples(x, y)
    tests = all_tests(x, y, permutations=permutations, generator=torch.Generator().manual_seed(seed))
    return {
        "a": str(a), "b": str(b), "alpha": alpha, "seed": seed, "permutations": permutations,
        "tests": [{**t.to_dict(), "rejects": t.rejects(alpha)} for t in tests],
        "different": any(t.rejects(alpha / len(tests)) for t in tests),
    }


def _centred(x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Both samples moved by their pooled mean in float64, then float32 for the tests.

    A common translation changes no test's statistic or p-value (they depend on
    distances), and keeps a common offset such as 1e8 from rounding the data
    away in float32.
    """
    centre = torch.cat([x, y]).mean(0)
    return (x - centre).float(), (y - centre).float()


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
