import gzip

import numpy as np
import pytest
import torch

from gankit.config import DataConfig
from gankit.data import make_dataset
from gankit.data.images import is_image_source, load_images, read_idx, resize_center_crop
from gankit.errors import UserError
from imagefixtures import blobs, idx_bytes, write_idx_folder, write_image_folder


def _rng():
    return torch.Generator().manual_seed(0)


def test_digits_are_scaled_and_labelled():
    images, labels, classes = load_images("digits")
    assert images.shape == (1797, 1, 8, 8) and images.dtype == torch.float32
    assert float(images.min()) == -1.0 and float(images.max()) == 1.0  # 0 -> -1, 16 -> 1
    assert labels.shape == (1797,) and set(labels.tolist()) == set(range(10))
    assert classes == [str(i) for i in range(10)]


def test_holdout_split_keeps_labels_aligned():
    ds = make_dataset(DataConfig(source="digits", holdout=0.5), _rng(), 0)
    assert len(ds.train) + len(ds.heldout) == 1797 and abs(len(ds.train) - len(ds.heldout)) <= 1
    assert ds.shape == (1, 8, 8) and len(ds.labels) == len(ds.train) and len(ds.heldout_labels) == len(ds.heldout)
    images, labels, _ = load_images("digits")
    # each training image keeps its own label: find one in the full set
    i = int(torch.nonzero((images == ds.train[0]).flatten(1).all(1))[0])
    assert int(labels[i]) == int(ds.labels[0])


@pytest.mark.parametrize("gz", [True, False])
def test_idx_folder(tmp_path, gz):
    folder = write_idx_folder(tmp_path / "mnist", n=10, side=8, gz=gz)
    images, labels, classes = load_images(f"idx:{folder}")
    raw, expected = blobs(10, 8)
    assert images.shape == (10, 1, 8, 8)
    assert torch.allclose(images[:, 0], torch.from_numpy(raw / 127.5 - 1).float())
    assert labels.tolist() == expected.tolist() and classes == ["0", "1"]


def test_idx_wrong_magic_and_truncation(tmp_path):
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "train-images-idx3-ubyte").write_bytes(b"\x08\x03\x00\x00" + bytes(16))
    with pytest.raises(UserError, match="wrong magic number"):
        load_images(f"idx:{bad}")
    short = idx_bytes(np.zeros((4, 8, 8), np.uint8))[:-5]
    (bad / "train-images-idx3-ubyte").write_bytes(short)
    with pytest.raises(UserError, match=r"promises shape \(4, 8, 8\)"):
        read_idx(bad / "train-images-idx3-ubyte")
    (bad / "train-images-idx3-ubyte").write_bytes(gzip.compress(short)[:-4])
    with pytest.raises(UserError, match="corrupt gzip"):
        read_idx(bad / "train-images-idx3-ubyte")
    with pytest.raises(UserError, match="no '\\*-images-idx3"):
        load_images(f"idx:{tmp_path / 'bad' / '..' }")
    with pytest.raises(UserError, match="IDX folder not found"):
        load_images(f"idx:{tmp_path / 'nope'}")


def test_image_folder_classes_from_subfolders(tmp_path):
    root = write_image_folder(tmp_path / "imgs", n=12, side=8)
    images, labels, classes = load_images(f"folder:{root}")
    assert images.shape == (12, 1, 8, 8) and classes == ["left", "right"]
    assert labels.tolist().count(0) == 6
    # left images are bright top-left
    left = images[labels == 0]
    assert float(left[:, 0, :4, :4].mean()) > 0.5 > float(left[:, 0, 4:, 4:].mean())


def test_image_folder_mixed_sizes_need_a_resolution(tmp_path):
    root = write_image_folder(tmp_path / "imgs", n=6, side=8, sizes=[8, 12, 16])
    with pytest.raises(UserError, match="different sizes.*data.resolution"):
        load_images(f"folder:{root}")
    images, _, _ = load_images(f"folder:{root}", resolution=8)
    assert images.shape == (6, 1, 8, 8)


def test_rgb_folder_without_classes_and_centre_crop(tmp_path):
    from PIL import Image

    root = tmp_path / "rgb"
    root.mkdir()
    wide = np.zeros((10, 20, 3), np.uint8)
    wide[:, 5:15] = [255, 0, 0]  # a red centre square between black side bands
    Image.fromarray(wide).save(root / "a.png")
    Image.fromarray(wide).save(root / "b.jpg", quality=100)
    images, labels, classes = load_images(f"folder:{root}", resolution=10)
    assert images.shape == (2, 3, 10, 10) and labels is None and classes == []
    assert float(images[0, 0].mean()) > 0.95 and float(images[0, 1].mean()) < -0.95  # the crop kept the centre


def test_corrupt_png_is_named_or_skipped(tmp_path):
    root = write_image_folder(tmp_path / "imgs", n=6, side=8)
    broken = root / "left" / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 10)
    with pytest.raises(UserError, match="broken.png: unreadable image"):
        load_images(f"folder:{root}")
    images, labels, _ = load_images(f"folder:{root}", skip_corrupt=True)
    assert len(images) == 6


def test_empty_or_missing_folder(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("no images here")
    with pytest.raises(UserError, match="no PNG or JPEG images"):
        load_images(f"folder:{tmp_path / 'empty'}")
    with pytest.raises(UserError, match="image folder not found"):
        load_images(f"folder:{tmp_path / 'missing'}")


def test_npz_layouts_and_errors(tmp_path):
    raw, labels = blobs(6, 8)
    np.savez(tmp_path / "a.npz", images=raw, labels=labels)
    images, got, _ = load_images(str(tmp_path / "a.npz"))
    assert images.shape == (6, 1, 8, 8) and got.tolist() == labels.tolist()
    np.savez(tmp_path / "hwc.npz", images=np.stack([raw] * 3, -1).astype(np.float32) / 255)
    images, got, _ = load_images(str(tmp_path / "hwc.npz"))
    assert images.shape == (6, 3, 8, 8) and got is None and float(images.max()) <= 1.0
    np.savez(tmp_path / "nan.npz", images=np.full((3, 8, 8), np.nan, np.float32))
    with pytest.raises(UserError, match="NaN"):
        load_images(str(tmp_path / "nan.npz"))
    np.savez(tmp_path / "nolabel.npz", pictures=raw)
    with pytest.raises(UserError, match="no 'images' array"):
        load_images(str(tmp_path / "nolabel.npz"))
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(UserError, match="cannot read as .npz"):
        load_images(str(tmp_path / "junk.npz"))


def test_resize_and_sources():
    x = torch.linspace(-1, 1, 16 * 16).reshape(1, 1, 16, 16)
    y = resize_center_crop(x, 8)
    assert y.shape == (1, 1, 8, 8) and abs(float(y.mean()) - float(x.mean())) < 0.05
    assert all(is_image_source(s) for s in ["digits", "idx:x", "folder:y", "a.NPZ"])
    assert not any(is_image_source(s) for s in ["gaussian", "points.csv", "p.npy"])
