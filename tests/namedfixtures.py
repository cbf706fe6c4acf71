"""Small files in the real formats of the named sets, and a local HTTP server that serves them."""

from __future__ import annotations

import contextlib
import functools
import gzip
import hashlib
import io
import tarfile
import threading
import zipfile
from dataclasses import replace
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Iterator

import numpy as np

from imagefixtures import blobs, idx_bytes


class QuietHandler(SimpleHTTPRequestHandler):
    requests: list[str] = []

    def do_GET(self):  # noqa: N802 (http.server's name)
        type(self).requests.append(self.path)
        super().do_GET()

    def log_message(self, *args):  # keep the test output clean
        pass


@contextlib.contextmanager
def serve(directory: Path) -> Iterator[str]:
    """Serve ``directory`` on 127.0.0.1 (a free port) in a thread; yields the base URL."""
    QuietHandler.requests = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(directory)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_port}"
    finally:
        httpd.shutdown()
        httpd.server_close()


class TrickleHandler(QuietHandler):
    """A mirror that answers every GET with a megabyte announced and a byte every 0.1 s (for 60 s at most)."""

    def do_GET(self):  # noqa: N802
        import time

        self.send_response(200)
        self.send_header("Content-Length", str(1 << 20))
        self.end_headers()
        try:
            for _ in range(600):
                self.wfile.write(b"x")
                self.wfile.flush()
                time.sleep(0.1)
        except OSError:  # the client went away
            pass


@contextlib.contextmanager
def serve_trickle() -> Iterator[str]:
    """`TrickleHandler` on 127.0.0.1 (a free port) in a thread; yields the base URL."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), TrickleHandler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_port}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def mnist_files(n: int = 12, side: int = 8) -> dict[str, bytes]:
    images, labels = blobs(n, side)
    return {"train-images-idx3-ubyte.gz": gzip.compress(idx_bytes(images)),
            "train-labels-idx1-ubyte.gz": gzip.compress(idx_bytes(labels))}


def cifar_records(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(n, 3, 32, 32) uint8 images whose red/green/blue planes are distinct, and (n,) labels 0..9."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n, 3, 32, 32), dtype=np.uint8)
    images[:, 0, 0, 0], images[:, 1, 0, 0], images[:, 2, 0, 0] = 10, 20, 30  # the channel order shows
    return images, np.arange(n, dtype=np.uint8) % 10


def cifar_binary_targz(n_per_batch: int = 4, batches: int = 5) -> tuple[bytes, np.ndarray, np.ndarray]:
    """``cifar-10-binary.tar.gz`` as the publisher lays it out, with a decoy pickle gankit must not read."""
    images, labels = cifar_records(n_per_batch * batches)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        def add(name: str, data: bytes) -> None:
            info = tarfile.TarInfo(f"cifar-10-batches-bin/{name}")
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))

        add("batches.meta.txt", b"airplane\nautomobile\n")
        for b in range(batches):
            rows = slice(b * n_per_batch, (b + 1) * n_per_batch)
            records = np.concatenate([labels[rows, None], images[rows].reshape(n_per_batch, -1)], 1)
            add(f"data_batch_{b + 1}.bin", records.astype(np.uint8).tobytes())
        add("test_batch.bin", bytes(3073))  # a record of class 0 that is not training data
        add("data_batch_1", b"\x80\x04not a pickle anyone should load")
    return buffer.getvalue(), images, labels


def pokemon_zip(n: int = 6, sizes: tuple[int, ...] = (12, 16)) -> bytes:
    """A zip of RGBA PNG sprites of a few sizes in species folders under ``pokemon/``, plus hostile extras."""
    from PIL import Image

    buffer = io.BytesIO()
    rng = np.random.default_rng(0)
    with zipfile.ZipFile(buffer, "w") as archive:
        for i in range(n):
            side = sizes[i % len(sizes)]
            pixels = rng.integers(0, 256, size=(side, side, 4), dtype=np.uint8)
            png = io.BytesIO()
            Image.fromarray(pixels, "RGBA").save(png, format="png")
            archive.writestr(f"pokemon/{i % 3 + 1}/{i}.png", png.getvalue())
        archive.writestr("pokemon/readme.txt", "sprites")
        archive.writestr("__MACOSX/pokemon/._0.png", "resource fork, not an image")
        archive.writestr("../escaped.png", "must never be written outside")
    return buffer.getvalue()


def publish(monkeypatch, mirror: Path, name: str, files: dict[str, bytes], pin: dict[str, bytes] | None = None) -> None:
    """Put ``files`` under ``mirror/<name>/`` and pin the named set to the checksums of ``pin`` (default: them)."""
    from gankit.data import named

    (mirror / name).mkdir(parents=True, exist_ok=True)
    for file, data in files.items():
        (mirror / name / file).write_bytes(data)
    pins = tuple((file, sha256(data)) for file, data in (pin or files).items())
    monkeypatch.setitem(named.NAMED_SETS, name, replace(named.NAMED_SETS[name], files=pins))
