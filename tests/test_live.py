import io
import sys
import types

import pytest
from PIL import Image

from gankit.viz.live import LivePlot, in_notebook
from gankit.engines.training import train


class FakeDisplay:
    """Stands in for IPython's display: records the first PNG and every update."""

    def __init__(self):
        self.shown = []
        self.updates = []

    def __call__(self, png):
        self.shown.append(png)
        return self

    def update(self, png):
        self.updates.append(png)


def test_does_nothing_in_a_plain_terminal(tiny_config):
    assert not in_notebook()
    live = LivePlot()
    result = train(tiny_config, [live])
    assert live.frames == 0 and live.figure is None and live.handle is None
    assert [r["loss_d"] for r in result.history] == [r["loss_d"] for r in train(tiny_config).history]


def test_redraws_in_place_every_epoch_when_in_a_notebook(tiny_config):
    tiny_config.train.epochs = 3
    display = FakeDisplay()
    live = LivePlot(enabled=True, show=display)
    result = train(tiny_config, [live])
    assert len(display.shown) == 1 and len(display.updates) == 2 and live.frames == 3
    for png in display.shown + display.updates:
        with Image.open(io.BytesIO(png)) as im:
            assert im.format == "PNG" and im.size[0] > 400
    loss_ax, points_ax = live.figure.axes[:2]
    loss_d = loss_ax.lines[0].get_ydata()
    assert list(loss_d) == [r["loss_d"] for r in result.history]
    assert len(points_ax.collections) == 2  # real and generated
    assert points_ax.get_title() == "real vs generated, epoch 3"


def test_every_skips_epochs_but_always_draws_the_last(tiny_config):
    tiny_config.train.epochs = 5
    display = FakeDisplay()
    live = LivePlot(every=2, enabled=True, show=display)
    train(tiny_config, [live])
    assert live.frames == 3  # epochs 2, 4 and 5
    with pytest.raises(ValueError, match="every must be at least 1"):
        LivePlot(every=0)


def test_in_notebook_detects_a_kernel(monkeypatch):
    import IPython

    monkeypatch.setattr(IPython, "get_ipython", lambda: types.SimpleNamespace(kernel=object()))
    assert in_notebook()
    monkeypatch.setattr(IPython, "get_ipython", lambda: types.SimpleNamespace())  # terminal IPython
    assert not in_notebook()
    monkeypatch.setitem(sys.modules, "IPython", None)
    monkeypatch.delitem(sys.modules, "IPython")
    assert not in_notebook()
