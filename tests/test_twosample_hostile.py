"""Two-sample tests on data chosen to break them: unequal sizes, ties, odd units, huge files."""

import numpy as np
import pytest
import torch

from gankit.compare import compare_files
from gankit.metrics.twosample import (
    blocked,
)
from gankit.metrics.twosample import TestResult as Result  # a "Test..." name would be collected by pytest


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _gen(seed):
    return torch.Generator().manual_seed(seed)


# --- 2. blocks use every point exactly once ------------------------------------------------

def _sizes_test(sizes):
    def test(xb, yb, **kwargs):
        sizes.append((xb.shape[0], yb.shape[0]))
        return Result("stub", 0.0, 0.5, xb.shape[0], yb.shape[0])
    return test


@pytest.mark.parametrize("n,m,blocks", [(12001, 24, 6), (4001, 10, 2), (10, 4001, 2), (4001, 4001, 3),
                                        (6000, 6000, 3), (2001, 7, 1), (5000, 300, 3)])
def test_blocked_uses_every_point_once(n, m, blocks):
    sizes = []
    result = blocked(_sizes_test(sizes), torch.zeros(n, 1), torch.zeros(m, 1), 2000)
    assert sum(a for a, _ in sizes) == n and sum(b for _, b in sizes) == m
    assert len(sizes) == blocks and min(min(s) for s in sizes) >= 4
    assert max(a for a, _ in sizes) - min(a for a, _ in sizes) <= 1
    assert max(b for _, b in sizes) - min(b for _, b in sizes) <= 1
    if blocks > 1:
        assert result.details["blocks"] == len(result.details["block_p_values"]) == blocks
        assert (result.n_x, result.n_y) == (n, m)


def test_twosample_runs_on_a_large_file_against_a_small_one(tmp_path):
    rng = np.random.default_rng(3)
    np.save(tmp_path / "big.npy", rng.normal(size=(4001, 2)))
    np.save(tmp_path / "small.npy", rng.normal(size=(10, 2)))
    result = compare_files(tmp_path / "big.npy", tmp_path / "small.npy", permutations=19)
    mmd, energy, c2st = result["tests"]
    for t in (mmd, energy):
        assert t["details"]["blocks"] == len(t["details"]["block_p_values"]) == 2
        assert (t["n_x"], t["n_y"]) == (4001, 10)
    assert c2st["details"]["n_train"] + c2st["details"]["n_test"] == 4011


