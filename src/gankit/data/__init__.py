"""Training data: named targets with a known truth, and user point files."""

from gankit.data.points import (
    Dataset,
    GaussianTarget,
    TARGETS,
    load_points,
    make_dataset,
)

__all__ = ["Dataset", "GaussianTarget", "TARGETS", "load_points", "make_dataset"]
