"""Training data: named targets with a known truth, user point files, and images."""

from gankit.data.points import (
    Dataset,
    GaussianTarget,
    TARGETS,
    load_points,
)
from gankit.data.points import make_dataset as make_point_dataset


def make_dataset(cfg, generator, seed):
    """The training data for a `DataConfig`: images (see `gankit.data.sources`) or points.

    ``generator`` is the run's main torch stream (held-out splits); ``seed`` the
    run's seed, whose NumPy stream ``data`` a target's points come from.

    Examples:
        >>> import torch
        >>> from gankit import Config
        >>> config = Config()
        >>> dataset = make_dataset(config.data, torch.Generator().manual_seed(0), seed=0)
        >>> dataset.shape, tuple(dataset.train.shape)     # the chapter's 1000 points in 2-D
        ((2,), (1000, 2))
    """
    from gankit.data.images import make_image_dataset
    from gankit.data.sources import is_image, load_source

    if is_image(cfg.source):
        return make_image_dataset(cfg, generator, load=load_source)
    return make_point_dataset(cfg, generator, seed)


__all__ = ["Dataset", "GaussianTarget", "TARGETS", "load_points", "make_dataset"]
