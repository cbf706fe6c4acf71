"""A stand-in for torchvision with the one call docs/how-to/fid-features.md makes.

torchvision does not import beside the CPU torch this project pins (its `nms` operator is missing), so the
page's code is run against this module instead: `models.inception_v3(weights=...)` returns a small network
with Inception-v3's interface (3x299x299 in, a replaceable `fc` after 2048 pooled features), untrained and
seeded. It checks gankit's side of the page (a user's module as `features=`), not Inception's features.
"""

from . import models  # noqa: F401
