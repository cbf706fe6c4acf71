"""Training data: named targets with a known truth, user point files, and images."""

from gankit.data.points import (
    Dataset,
    GaussianTarget,
    TARGETS,
    load_points,
)
from gankit.data.points import make_dataset as make_point_dataset


def make_dataset(cfg, generator):
    """The training data for a `DataConfig`: images (see `gankit.data.images`) or points."""
    from gankit.data.images import is_image_source, make_image_dataset

    if is_image_source(cfg.source):
        return make_image_dataset(cfg, generator)
    return make_point_dataset(cfg, generator)


__all__ = ["Dataset", "GaussianTarget", "TARGETS", "load_points", "make_dataset"]
