"""Image data sets by name: ``mnist``, ``fashion-mnist``, ``cifar10``, ``pokemon``.

On first use the set's files are downloaded into the data cache
(`gankit.data.cache.data_root` ``/downloads/<set>/``), each verified against
the checksum pinned below before it is used (`gankit.data.download.fetch`),
then decoded once into uint8 arrays cached under a key made of those checksums.
Later runs read the arrays and touch neither the network nor the archives.

The base URL of every set can be replaced for a mirror (``data.url``, else
``$GANKIT_DATA_URL``): the files are then fetched from ``<base>/<set>/<file>``,
e.g. ``https://mirror.example/gankit/mnist/train-images-idx3-ubyte.gz``
(``file:///path`` works too). The checksums stay the same.

Only the training split of each set is used (``data.holdout`` splits it for
evaluation). Formats, none of them unpickled:

- mnist, fashion-mnist: IDX files, gzipped (28 x 28 grayscale, 60,000 images, 10 classes);
- cifar10: the *binary* version, ``cifar-10-binary.tar.gz`` (the five
  ``data_batch_N.bin``: records of 1 label byte and 3,072 pixel bytes, channel-major;
  32 x 32 RGB, 50,000 images, 10 classes), read from the archive without extracting it;
- pokemon: the sprites of the d2l DCGAN chapter, a zip of PNGs in folders
  (decoded at 64 x 64 RGB unless ``data.resolution`` says otherwise; unlabelled:
  its folders are individual species, not classes a GAN should balance).
"""

from __future__ import annotations

import hashlib
import json
import os
import tarfile
import tempfile
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from gankit.data.cache import DECODER_VERSION, Decoded, cached_decode, data_root, to_uint8
from gankit.data.download import fetch
from gankit.errors import UserError


@dataclass(frozen=True)
class NamedSet:
    """A data set gankit can download.

    Attributes:
        url: the publisher's base URL (a file's URL is ``url + file``).
        files: (file name, pinned checksum ``"sha256:<hex>"``) pairs.
        decoder: ``"idx"``, ``"cifar-binary"`` or ``"zip-folder"``.
        classes: class names, index = label (empty: unlabelled).
        resolution: side a zip of differently sized images is decoded at.
        source: where the checksums were published.
    """

    url: str
    files: tuple[tuple[str, str], ...]
    decoder: str
    classes: tuple[str, ...] = ()
    resolution: int = 0
    source: str = ""


_TFDS = "tensorflow-datasets url_checksums"
NAMED_SETS: dict[str, NamedSet] = {
    "mnist": NamedSet(
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
        (("train-images-idx3-ubyte.gz", "sha256:440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609"),
         ("train-labels-idx1-ubyte.gz", "sha256:3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c")),
        "idx", tuple(str(i) for i in range(10)), source=f"{_TFDS}/mnist.txt"),
    "fashion-mnist": NamedSet(
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        (("train-images-idx3-ubyte.gz", "sha256:3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84"),
         ("train-labels-idx1-ubyte.gz", "sha256:a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845")),
        "idx", ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                "Ankle boot"), source=f"{_TFDS}/fashion_mnist.txt"),
    "cifar10": NamedSet(
        "https://www.cs.toronto.edu/~kriz/",
        (("cifar-10-binary.tar.gz", "sha256:c4a38c50a1bc5f3a1c5537f2155ab9d68f9f25eb1ed8d9ddda3db29a59bca1dd"),),
        "cifar-binary", ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"),
        source=f"{_TFDS}/cifar10.txt"),
    # d2l publishes only a SHA-1 for this file (d2l.DATA_HUB['pokemon']).
    "pokemon": NamedSet(
        "http://d2l-data.s3-accelerate.amazonaws.com/",
        (("pokemon.zip", "sha1:c065c0e2593b8b161a2d7873e42418bf6a21106c"),),
        "zip-folder", resolution=64, source="d2l DATA_HUB['pokemon']"),
}

CIFAR_RECORD = 1 + 3 * 32 * 32  # a label byte, then 1,024 red, green and blue bytes
MAX_MEMBER_BYTES = 1 << 30  # no member of an archive is read past this (a bomb, not a data set)


def is_named(source: str) -> bool:
    """Whether ``data.source`` names a downloadable set."""
    return source in NAMED_SETS


def file_url(name: str, file: str, base: str = "") -> str:
    """The URL of one file of set ``name``: the publisher's, or ``<base>/<name>/<file>`` for a mirror."""
    base = base or os.environ.get("GANKIT_DATA_URL", "")
    if base:
        return f"{base.rstrip('/')}/{name}/{file}"
    return NAMED_SETS[name].url + file


def load_named(name: str, resolution: int = 0, url: str = "", progress: bool | None = None) -> Decoded:
    """Set ``name`` as uint8 (N, C, H, W) images, (N,) labels (or None) and class names.

    Downloads and decodes on first use (see the module docstring).

    Args:
        name: a key of `NAMED_SETS`.
        resolution: for sets decoded per image (pokemon): the side to decode at
            (0: the set's own); other sets are decoded at their native size.
        url: a mirror's base URL ("" : ``$GANKIT_DATA_URL``, else the publisher's).
    """
    spec = NAMED_SETS[name]
    side = (resolution or spec.resolution) if spec.decoder == "zip-folder" else 0
    key = hashlib.sha256(json.dumps({"set": name, "files": spec.files, "decoder": DECODER_VERSION,
                                     "resolution": side}).encode()).hexdigest()[:32]

    def decode() -> Decoded:
        folder = data_root() / "downloads" / name
        try:
            paths = [fetch(file_url(name, file, url), folder / file, checksum, progress)
                     for file, checksum in spec.files]
        except UserError as err:  # every way to get the set, in the same line
            files = ", ".join(file for file, _ in spec.files)
            local = " or train on a copy of your own with --data idx:DIR" if spec.decoder == "idx" else ""
            raise UserError(f"{err}. {name} needs {files} in {folder}: put them there by hand, use a mirror "
                            f"(--set data.url=URL or $GANKIT_DATA_URL){local}") from None
        if spec.decoder == "idx":
            return _decode_idx(paths[0], paths[1], list(spec.classes))
        if spec.decoder == "cifar-binary":
            return _decode_cifar_binary(paths[0], list(spec.classes))
        return _decode_zip_folder(paths[0], side)

    return cached_decode(key, decode, name)


def _decode_idx(images_path: Path, labels_path: Path, classes: list[str]) -> Decoded:
    from gankit.data.images import read_idx

    images, labels = read_idx(images_path), read_idx(labels_path)
    if images.ndim != 3 or labels.shape != images.shape[:1]:
        raise UserError(f"{images_path}: expected (N, H, W) images and N labels, got {images.shape} and {labels.shape}")
    if labels.max(initial=0) >= len(classes):
        raise UserError(f"{labels_path}: label {labels.max()} is not one of the {len(classes)} classes")
    return torch.from_numpy(images.copy())[:, None], torch.from_numpy(labels.astype(np.int64)), classes


def _decode_cifar_binary(path: Path, classes: list[str]) -> Decoded:
    """The five training batches of ``cifar-10-binary.tar.gz``, read from the archive in memory."""
    batches: dict[str, bytes] = {}
    try:
        with tarfile.open(path, "r:gz") as archive:
            for member in archive:
                base = member.name.rsplit("/", 1)[-1]
                if member.isfile() and base.startswith("data_batch_") and base.endswith(".bin"):
                    if member.size > MAX_MEMBER_BYTES or member.size % CIFAR_RECORD:
                        raise UserError(f"{path}: {member.name} is {member.size} bytes, not whole "
                                        f"{CIFAR_RECORD}-byte CIFAR-10 records")
                    batches[base] = archive.extractfile(member).read()
    except (tarfile.TarError, OSError, EOFError) as err:
        raise UserError(f"{path}: not a readable .tar.gz ({err})") from None
    if not batches:
        raise UserError(f"{path}: no data_batch_N.bin inside (is this the binary version of CIFAR-10?)")
    records = np.frombuffer(b"".join(batches[k] for k in sorted(batches)), np.uint8).reshape(-1, CIFAR_RECORD)
    labels = records[:, 0].astype(np.int64)
    if labels.max() >= len(classes):
        raise UserError(f"{path}: label {labels.max()} is not one of the {len(classes)} classes")
    images = records[:, 1:].reshape(-1, 3, 32, 32)  # channel-major rows: (N, C, H, W)
    return torch.from_numpy(images.copy()), torch.from_numpy(labels), classes


def _decode_zip_folder(path: Path, resolution: int) -> Decoded:
    """A zip of images in folders, decoded as ``folder:`` would decode it unpacked (labels dropped)."""
    from gankit.data.images import IMAGE_SUFFIXES, _load_folder

    root = data_root() / "downloads"
    with tempfile.TemporaryDirectory(prefix=".unpack-", dir=root) as tmp:
        _safe_unzip(path, Path(tmp), IMAGE_SUFFIXES)
        top = [p for p in Path(tmp).iterdir()]
        folder = top[0] if len(top) == 1 and top[0].is_dir() else Path(tmp)
        images, _, _ = _load_folder(folder, resolution, skip_corrupt=False)
    return to_uint8(images), None, []


def _safe_unzip(path: Path, out: Path, suffixes: tuple[str, ...]) -> None:
    """Unpack only image files with plain relative names, each read no further than `MAX_MEMBER_BYTES`."""
    try:
        with zipfile.ZipFile(path) as archive:
            for info in archive.infolist():
                parts = Path(info.filename).parts
                if (info.is_dir() or not info.filename.lower().endswith(suffixes) or info.filename.startswith("/")
                        or ".." in parts or parts[0] == "__MACOSX" or parts[-1].startswith(".")):
                    continue
                target = out.joinpath(*parts)
                target.parent.mkdir(parents=True, exist_ok=True)
                with archive.open(info) as src, open(target, "wb") as dst:
                    while chunk := src.read(1 << 20):
                        dst.write(chunk)
                        if dst.tell() > MAX_MEMBER_BYTES:
                            raise UserError(f"{path}: member {info.filename} unpacks to more than "
                                            f"{MAX_MEMBER_BYTES >> 20} MiB, more than an image should")
    except (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, EOFError, NotImplementedError) as err:
        raise UserError(f"{path}: not a readable zip file ({err})") from None


__all__ = ["NAMED_SETS", "NamedSet", "file_url", "is_named", "load_named"]
