"""Sample grids at a viewable size, GIF frames that say their epoch."""

import numpy as np
import torch
from PIL import Image

from gankit.viz.pictures import VIEW_WIDTH, image_grid, labelled


def test_grids_are_scaled_to_a_viewable_width_with_sharp_pixels():
    small = image_grid(torch.zeros(64, 1, 8, 8))  # 8x8 digits: 73 px before scaling
    assert VIEW_WIDTH <= small.width < 2 * VIEW_WIDTH and small.width % 73 == 0
    big = image_grid(torch.zeros(64, 3, 64, 64))  # already 521 px wide: left alone
    assert big.size == (521, 521)
    x = torch.tensor([[[[-1.0, 1.0], [1.0, -1.0]]]])  # nearest-neighbour scaling keeps two grey levels
    assert set(np.unique(np.asarray(image_grid(x, pad=0)))) == {0, 255}


def test_a_labelled_frame_has_the_text_above_the_picture():
    picture = Image.new("RGB", (300, 200), (0, 128, 0))
    out = labelled(picture, "epoch 12")
    strip = out.height - 200
    assert out.width == 300 and strip > 10
    assert np.array_equal(np.asarray(out)[strip:], np.asarray(picture))  # the picture itself is untouched
    top = np.asarray(out)[:strip]
    assert (top < 100).all(-1).sum() > 20 and (top == 255).all(-1).mean() > 0.5  # dark text on white
    blank = np.asarray(labelled(picture, ""))[:strip]
    assert (blank == 255).all()
