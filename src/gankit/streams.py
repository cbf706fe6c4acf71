"""Named random streams: every draw besides training's own comes from a stream named here.

Training's main stream is ``torch.Generator().manual_seed(train.seed)``: the
held-out split of a file or image set, the initial weights, then each epoch's
order and noise, in that order (see `gankit.engines.training`). Nothing else
draws from it. Points drawn from a target (the chapter's Gaussian, the toy
targets) come from the NumPy stream ``data`` instead (`numpy_generator`), so
that they are the same bits on every CPU: NumPy's float64 draws are integer
arithmetic and correctly rounded operations, where torch's float32 normal
sampler and matrix products depend on the instruction set it dispatches to
(see `gankit.data.targets`). Every other draw
(the fixed noise behind the figures, the health checks, batch-norm statistics
of G_ema, the quality scores, evaluation) takes a generator from `generator`,
keyed by the run's seed and a name from `STREAMS`, through
``numpy.random.SeedSequence`` spawn keys. Streams are independent of each
other and of the main stream, and adding a stream never moves another.
"""

from __future__ import annotations

import numpy as np
import torch

_EVAL = 0x6576616C  # "eval": the first spawn-key word of evaluation's streams
_RUN = 0x72756E73  # "runs": the first word of the side streams of a training run

# name -> spawn key. Evaluation's keys are those `gankit eval` has always used,
# so its numbers do not change.
STREAMS: dict[str, tuple[int, int]] = {
    "eval.real": (_EVAL, 1),  # fresh real points, or which held-out points are used
    "eval.fake": (_EVAL, 2),  # the generator's noise
    "eval.tests": (_EVAL, 3),  # permutations, splits and classifier initialisation of the tests
    "eval.reference": (_EVAL, 4),  # the real reference sample of the Gaussian diagnostics
    "figures": (_RUN, 1),  # fixed noise of snapshots, sample grids, live plots, TensorBoard
    "health": (_RUN, 2),  # the samples the collapse check compares
    "ema.batchnorm": (_RUN, 3),  # noise re-estimating G_ema's batch-norm statistics, one per epoch
    "summary.fit": (_RUN, 4),  # samples of a non-affine G whose Gaussian fit the summary reports
    "quality.fake": (_RUN, 5),  # generated images scored in feature space
    "quality.noise": (_RUN, 6),  # the uniform-noise baseline of the quality scores
    "quality.kid": (_RUN, 7),  # KID's random subsets
    "interpolation": (_RUN, 8),  # the end points of interpolation.png
    "lab.real": (_RUN, 9),  # gankit lab's live two-sample test: fresh real points, one stream per epoch
    "lab.fake": (_RUN, 10),  # ... the generator's noise
    "lab.tests": (_RUN, 11),  # ... the test's permutations
    "augment": (_RUN, 12),  # DiffAugment's draws, one sub-stream per training step
    "data": (_RUN, 13),  # a target's training points (NumPy: the same bits on every CPU)
    "figures.real": (_RUN, 14),  # which training images real.png shows
    "quality.halves": (_RUN, 15),  # which training images the real halves' precision and recall take
    "quality.yardstick": (_RUN, 16),  # the size-matched FD yardstick's draws and its ratio's bootstrap
    "quality.fd_inf": (_RUN, 17),  # the subsets FD is extrapolated to infinitely many images from
    "watch": (_RUN, 18),  # noise of the per-epoch Gaussian fit of `gankit.engines.sweep.train_many`'s watch
    "quality.class_halves": (_RUN, 19),  # the real halves the class-share yardstick draws
}


def seed(seed: int, name: str, index: int = 0) -> int:
    """The seed of stream ``name`` of ``seed`` (``index``: its sub-stream, e.g. an epoch), in [0, 2^63).

    Raises:
        KeyError: ``name`` is not in `STREAMS`.
    """
    key = STREAMS[name] + ((index,) if index else ())
    state = np.random.SeedSequence(entropy=seed, spawn_key=key).generate_state(2, np.uint64)
    return int(state[0]) >> 1


def generator(seed_: int, name: str, index: int = 0) -> torch.Generator:
    """A fresh ``torch.Generator`` on stream ``name`` of ``seed_`` (see `seed`)."""
    return torch.Generator().manual_seed(seed(seed_, name, index))


def numpy_generator(seed_: int, name: str, index: int = 0) -> np.random.Generator:
    """A fresh NumPy ``Generator`` (PCG64) on stream ``name`` of ``seed_``: portable draws for targets.

    Unlike `generator`, its float64 draws are the same bits on every CPU (NumPy's
    generators use integer arithmetic and correctly rounded float64 operations).
    """
    key = STREAMS[name] + ((index,) if index else ())
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(entropy=seed_, spawn_key=key)))


__all__ = ["STREAMS", "generator", "numpy_generator", "seed"]
