"""Named sets: downloaded from a local server, verified, decoded once; offline and wrong files are one line."""

import os
import socket

import numpy as np
import pytest
import torch

from gankit.config import DataConfig
from gankit.data import make_dataset, named
from gankit.data.cache import data_root
from gankit.data.named import NAMED_SETS, file_url, load_named
from gankit.data.sources import load_source
from gankit.errors import UserError
from imagefixtures import blobs
from namedfixtures import QuietHandler, cifar_binary_targz, mnist_files, pokemon_zip, publish, serve, serve_trickle


@pytest.fixture(autouse=True)
def _no_proxy_for_the_local_server(monkeypatch):
    """The test server is on 127.0.0.1: a proxy set in the environment must not be asked for it."""
    for name in ("no_proxy", "NO_PROXY"):
        monkeypatch.setenv(name, "127.0.0.1,localhost")


def files_in(root):
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


def test_the_real_sets_are_pinned_to_published_checksums():
    assert set(NAMED_SETS) == {"mnist", "fashion-mnist", "cifar10", "pokemon"}
    for name, spec in NAMED_SETS.items():
        for file, checksum in spec.files:
            algorithm, _, digest = checksum.partition(":")
            assert len(digest) == {"sha256": 64, "sha1": 40}[algorithm], (name, file)
            int(digest, 16)
    assert NAMED_SETS["mnist"].files[0] == (
        "train-images-idx3-ubyte.gz", "sha256:440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609")
    assert file_url("cifar10", "cifar-10-binary.tar.gz") == "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz"
    assert file_url("mnist", "a.gz", "http://mirror/x/") == "http://mirror/x/mnist/a.gz"


@pytest.mark.parametrize("name", ["mnist", "fashion-mnist"])
def test_idx_set_downloads_verifies_and_decodes_once(tmp_path, monkeypatch, name):
    publish(monkeypatch, tmp_path / "mirror", name, mnist_files(12))
    with serve(tmp_path / "mirror") as base:
        images, labels, classes = load_named(name, url=base)
        assert len(QuietHandler.requests) == 2
    raw, expected = blobs(12, 8)
    assert images.dtype == torch.uint8 and images.shape == (12, 1, 8, 8)
    assert torch.equal(images[:, 0], torch.from_numpy(raw)) and labels.tolist() == expected.tolist()
    assert classes == list(NAMED_SETS[name].classes) and len(classes) == 10
    assert files_in(data_root() / "downloads") == [f"{name}/train-images-idx3-ubyte.gz",
                                                   f"{name}/train-labels-idx1-ubyte.gz"]
    # decoded once: with the server gone and the downloads deleted, the arrays still come from the cache
    for path in (data_root() / "downloads" / name).iterdir():
        path.unlink()
    again, labels2, _ = load_named(name, url=base)
    assert torch.equal(again, images) and torch.equal(labels2, labels)


def test_cifar10_binary_records_are_parsed_without_unpickling(tmp_path, monkeypatch):
    archive, raw, labels = cifar_binary_targz(n_per_batch=4, batches=5)
    publish(monkeypatch, tmp_path / "mirror", "cifar10", {"cifar-10-binary.tar.gz": archive})
    import pickle

    monkeypatch.setattr(pickle, "loads", lambda *a, **k: pytest.fail("unpickled"))
    with serve(tmp_path / "mirror") as base:
        monkeypatch.setenv("GANKIT_DATA_URL", base)  # the mirror from the environment
        images, got, classes = load_named("cifar10")
    assert images.shape == (20, 3, 32, 32) and torch.equal(images, torch.from_numpy(raw))  # the test batch is not in
    assert images[:, :, 0, 0].tolist() == [[10, 20, 30]] * 20  # channel-major: R, G, B planes
    assert got.tolist() == labels.tolist() and classes[0] == "airplane" and classes[9] == "truck"


def test_pokemon_zip_of_folders_is_decoded_unlabelled_at_a_resolution(tmp_path, monkeypatch):
    publish(monkeypatch, tmp_path / "mirror", "pokemon", {"pokemon.zip": pokemon_zip(6)})
    monkeypatch.setattr(named, "MAX_MEMBER_BYTES", 1 << 20)
    with serve(tmp_path / "mirror") as base:
        cfg = DataConfig(source="pokemon", resolution=8, url=base)
        images, labels, classes = load_source(cfg)
    assert images.shape == (6, 3, 8, 8) and images.dtype == torch.float32 and labels is None and classes == []
    assert -1.0 <= float(images.min()) and float(images.max()) <= 1.0
    assert not (tmp_path / "escaped.png").exists() and not (data_root().parent / "escaped.png").exists()
    assert files_in(data_root() / "downloads") == ["pokemon/pokemon.zip"]  # the unpacked copy is gone


def test_wrong_checksum_is_one_line_and_leaves_nothing(tmp_path, monkeypatch):
    files = mnist_files(12)
    publish(monkeypatch, tmp_path / "mirror", "mnist", files,
            pin={**files, "train-images-idx3-ubyte.gz": b"what the publisher published"})
    with serve(tmp_path / "mirror") as base, pytest.raises(UserError) as err:
        load_named("mnist", url=base)
    message = str(err.value)
    assert "\n" not in message and "train-images-idx3-ubyte.gz" in message and f"{base}/mnist/" in message
    assert "not the pinned" in message and str(data_root() / "downloads" / "mnist") in message
    assert files_in(data_root()) == []


def test_offline_is_one_line_naming_url_and_place(tmp_path, monkeypatch):
    publish(monkeypatch, tmp_path / "mirror", "mnist", mnist_files(12))
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(UserError, match=r"cannot download train-images-idx3-ubyte.gz from "
                       rf"http://127.0.0.1:{port}/mnist/train-images-idx3-ubyte.gz .*put it at .*mnist"):
        load_named("mnist", url=f"http://127.0.0.1:{port}")
    # Issue 22 item 16: both files the set needs, and every other way to get it, in the same line.
    with pytest.raises(UserError) as err:
        load_named("mnist", url=f"http://127.0.0.1:{port}")
    message = str(err.value)
    assert "\n" not in message and "train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz in" in message
    assert "--set data.url=URL or $GANKIT_DATA_URL" in message and "--data idx:DIR" in message
    assert files_in(data_root()) == [] and not (data_root() / "downloads").exists()


def test_file_put_there_by_hand_is_verified_and_used(tmp_path, monkeypatch):
    files = mnist_files(12)
    publish(monkeypatch, tmp_path / "mirror", "mnist", files)
    folder = data_root() / "downloads" / "mnist"
    folder.mkdir(parents=True)
    for file, data in files.items():
        (folder / file).write_bytes(data)
    images, _, _ = load_named("mnist", url="http://127.0.0.1:9/offline")  # never contacted
    assert images.shape == (12, 1, 8, 8)
    (folder / "train-labels-idx1-ubyte.gz").write_bytes(b"tampered")
    for entry in (data_root() / "decoded").iterdir():
        entry.unlink()
    with pytest.raises(UserError, match="train-labels-idx1-ubyte.gz has sha256 .* not the pinned"):
        load_named("mnist", url="http://127.0.0.1:9/offline")


def test_cli_bad_download_exits_2_with_one_line_and_no_run(tmp_path, monkeypatch, capsys):
    from gankit.cli import main

    files = mnist_files(12)
    publish(monkeypatch, tmp_path / "mirror", "mnist", files, pin={**files, "train-images-idx3-ubyte.gz": b"x"})
    with serve(tmp_path / "mirror") as base:
        code = main(["train", "--data", "mnist", "--set", f"data.url={base}", "--model", "dcgan", "--epochs", "1",
                     "--out", str(tmp_path / "run"), "--no-plots", "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and err.startswith("gankit: error: ") and "Traceback" not in err
    assert not (tmp_path / "run").exists() and files_in(data_root()) == []


def test_named_set_trains_as_a_dataset(tmp_path, monkeypatch):
    publish(monkeypatch, tmp_path / "mirror", "mnist", mnist_files(12))
    with serve(tmp_path / "mirror") as base:
        ds = make_dataset(DataConfig(source="mnist", holdout=0.5, url=base), torch.Generator().manual_seed(0), 0)
    assert ds.train.shape == (6, 1, 8, 8) and ds.heldout.shape == (6, 1, 8, 8) and ds.classes[0] == "0"
    assert float(ds.train.min()) >= -1.0 and np.isclose(float(ds.train.max()), 220 / 127.5 - 1)
    assert os.environ["GANKIT_DATA"] in str(data_root())


def test_a_trickling_mirror_is_given_up_on_and_leaves_nothing(tmp_path, monkeypatch):
    """Issue 22 item 9: a byte every 0.1 s never trips the per-read timeout; the stall rule stops it."""
    from gankit.data import download

    monkeypatch.setattr(download, "STALL_S", 1.0)
    monkeypatch.setattr(download, "MIN_BYTES", 1024)
    publish(monkeypatch, tmp_path / "mirror", "mnist", mnist_files(12))
    with serve_trickle() as base, pytest.raises(UserError) as err:
        load_named("mnist", url=base)
    message = str(err.value)
    assert "\n" not in message and "train-images-idx3-ubyte.gz" in message, message
    assert "bytes in 1 s (less than 1 KiB)" in message and "put it at" in message
    assert files_in(data_root()) == []
    with serve(tmp_path / "mirror") as base:  # the same rule on a mirror that answers at once: no stall
        images, _, _ = load_named("mnist", url=base)
    assert images.shape == (12, 1, 8, 8)


def test_ctrl_c_stops_a_download_at_once_and_a_killed_ones_leftovers_go(tmp_path, monkeypatch):
    """Issue 22 item 9: training's handler only noted the stop, so Ctrl-C waited for the download to end."""
    import signal
    import subprocess
    import sys
    import time

    env = {**os.environ, "no_proxy": "127.0.0.1", "NO_PROXY": "127.0.0.1"}
    folder = data_root() / "downloads" / "mnist"
    with serve_trickle() as base:
        process = subprocess.Popen([sys.executable, "-m", "gankit", "train", "--data", "mnist", "--set",
                                    f"data.url={base}", "--model", "dcgan", "--epochs", "1", "--out",
                                    str(tmp_path / "run"), "--no-plots"], env=env, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 60
        while not list(folder.glob(".*.tmp*")) and time.monotonic() < deadline:  # the download has begun
            time.sleep(0.1)
        started = time.monotonic()
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=30)
        stopped_in = time.monotonic() - started
    assert process.returncode == 130 and stopped_in < 5, (process.returncode, stopped_in, err)
    assert err.strip().splitlines() == ["gankit: interrupted while downloading train-images-idx3-ubyte.gz; "
                                        "nothing of it was kept"], err
    assert not list(folder.glob("*")) if folder.exists() else True
    assert not (tmp_path / "run").exists()
    # What a SIGKILLed download leaves (its pid in the name) is removed by the next download there.
    folder.mkdir(parents=True, exist_ok=True)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = folder / f".train-images-idx3-ubyte.tmp{dead.pid}.gz"
    live = folder / f".t10k-images-idx3-ubyte.tmp{os.getpid()}.gz"  # a running writer's: kept
    stale.write_bytes(b"half")
    live.write_bytes(b"half")
    publish(monkeypatch, tmp_path / "mirror", "mnist", mnist_files(12))
    with serve(tmp_path / "mirror") as base:
        load_named("mnist", url=base)
    assert not stale.exists() and live.exists()
