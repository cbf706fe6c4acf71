"""Decode once: a folder is decoded on first use, read from the cache after, and decoded again when it changes."""

import os

import pytest
import torch

from gankit.config import DataConfig
from gankit.data import sources
from gankit.data.cache import data_root, to_float, to_uint8
from gankit.data.images import load_images
from imagefixtures import write_image_folder


@pytest.fixture
def decodes(monkeypatch):
    """Counts the folder decodes that really happen."""
    calls = []
    real = sources._load_folder

    def counting(*args, **kwargs):
        calls.append(args[0])
        return real(*args, **kwargs)

    monkeypatch.setattr(sources, "_load_folder", counting)
    return calls


def test_uint8_round_trip_is_exact():
    u = torch.arange(256, dtype=torch.uint8).reshape(1, 1, 16, 16)
    x = to_float(u)
    assert torch.equal(to_uint8(x), u) and float(x.min()) == -1.0 and float(x.max()) == 1.0


def test_folder_is_decoded_once_and_identically(tmp_path, decodes):
    root = write_image_folder(tmp_path / "imgs", n=12, side=8)
    cfg = DataConfig(source=f"folder:{root}")
    first = sources.load_source(cfg)
    second = sources.load_source(cfg)
    assert len(decodes) == 1
    fresh = load_images(f"folder:{root}")  # no cache at all
    for a, b, c in zip(first[:2], second[:2], fresh[:2]):
        assert torch.equal(a, b) and torch.equal(a, c)  # bitwise
    assert first[2] == second[2] == ["left", "right"]
    assert len(list((data_root() / "decoded").glob("*.safetensors"))) == 1


def test_a_changed_folder_is_noticed(tmp_path, decodes):
    root = write_image_folder(tmp_path / "imgs", n=12, side=8)
    cfg = DataConfig(source=f"folder:{root}")
    images, _, _ = sources.load_source(cfg)
    # one image rewritten (same size, new content, a later modification time)
    from PIL import Image

    target = root / "left" / "000.png"
    Image.new("L", (8, 8), 255).save(target)
    st = target.stat()
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    changed, _, _ = sources.load_source(cfg)
    assert len(decodes) == 2 and float(changed[0].min()) == 1.0 and not torch.equal(changed, images)
    (root / "right" / "001.png").unlink()  # one image fewer
    fewer, labels, _ = sources.load_source(cfg)
    assert len(decodes) == 3 and len(fewer) == 11 and labels.tolist().count(1) == 5
    sources.load_source(DataConfig(source=f"folder:{root}", resolution=4))  # another resolution: another entry
    assert len(decodes) == 4
    sources.load_source(cfg)
    assert len(decodes) == 4


def test_a_damaged_cache_entry_is_decoded_again(tmp_path, decodes, capsys):
    root = write_image_folder(tmp_path / "imgs", n=6, side=8)
    cfg = DataConfig(source=f"folder:{root}")
    images, _, _ = sources.load_source(cfg)
    (entry,) = (data_root() / "decoded").glob("*.safetensors")
    entry.write_bytes(b"\x00" * 40)
    again, _, _ = sources.load_source(cfg)
    assert len(decodes) == 2 and torch.equal(again, images) and "damaged" in capsys.readouterr().err
    sources.load_source(cfg)
    assert len(decodes) == 2  # rewritten whole


def test_an_unwritable_cache_still_gives_the_data(tmp_path, decodes, monkeypatch, capsys):
    root = write_image_folder(tmp_path / "imgs", n=6, side=8)
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the cache should be")
    monkeypatch.setenv("GANKIT_DATA", str(blocker))
    images, _, _ = sources.load_source(DataConfig(source=f"folder:{root}"))
    assert images.shape == (6, 1, 8, 8) and "could not cache" in capsys.readouterr().err


@pytest.mark.parametrize("tamper", ["noise", "five_channels", "no_classes", "label_99", "label_minus_3"])
def test_a_hostile_cache_entry_is_decoded_again(tmp_path, decodes, capsys, tamper):
    """Issue 22 item 2: a well-formed entry with other contents is never trusted as it is."""
    from safetensors import safe_open

    from gankit.files import save_tensors

    root = write_image_folder(tmp_path / "imgs", n=12, side=8)
    cfg = DataConfig(source=f"folder:{root}")
    fresh = sources.load_source(cfg)
    (entry,) = (data_root() / "decoded").glob("*.safetensors")
    with safe_open(str(entry), "pt") as f:
        meta, images, labels = f.metadata(), f.get_tensor("images"), f.get_tensor("labels")
    if tamper == "noise":
        images = torch.randint(0, 256, images.shape, dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    elif tamper == "five_channels":
        images = images.repeat(1, 5, 1, 1)[:, :5]
    elif tamper == "no_classes":
        meta = {**meta, "classes": "[]"}
    else:
        labels = labels.clone()
        labels[3] = 99 if tamper == "label_99" else -3
    save_tensors(entry, {"images": images, "labels": labels}, meta)  # same sha256 record as before: stale
    capsys.readouterr()
    again = sources.load_source(cfg)
    assert len(decodes) == 2 and "decoding" in capsys.readouterr().err
    for a, b in zip(again[:2], fresh[:2]):
        assert torch.equal(a, b)
    assert again[2] == fresh[2] == ["left", "right"]
    assert len(sources.load_source(cfg)[0]) == 12 and len(decodes) == 2  # the entry was replaced: read, not decoded


def test_what_a_killed_cache_writer_left_is_removed_by_the_next_reader(tmp_path, decodes):
    """Issue 22 item 9: a SIGKILLed writer's ``.NAME.tmpPID`` file stayed in the cache for ever."""
    import subprocess
    import sys

    root = write_image_folder(tmp_path / "imgs", n=12, side=8)
    cfg = DataConfig(source=f"folder:{root}")
    sources.load_source(cfg)
    folder = data_root() / "decoded"
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = folder / f".0123abcd.tmp{dead.pid}.safetensors"
    live = folder / f".4567ef01.tmp{os.getpid()}.safetensors"  # a writer still running: kept
    stale.write_bytes(b"half an entry")
    live.write_bytes(b"half an entry")
    sources.load_source(cfg)
    assert not stale.exists() and live.exists() and len(decodes) == 1
