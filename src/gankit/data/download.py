"""Downloads that are verified before they are used, and never left half-written.

`fetch` streams a URL to a temporary file beside its place in the data cache
(a tqdm bar on a terminal), hashing as it goes; only a file whose checksum is
the pinned one is renamed into place (`gankit.files.atomic_file`). Offline, a
failed request or a wrong checksum is one `UserError` line that names the
file, the URL and where to put the file by hand, and leaves nothing in the
cache. A file already in place (put there by hand, or downloaded before) is
verified the same way before it is used. A mirror that stalls (less than
`MIN_BYTES` in `STALL_S` seconds) is given up on; SIGINT and SIGTERM stop a
download at once (`DownloadInterrupted`); the temporaries of a download killed
outright are removed by the next download into that folder.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import signal
import socket
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

from gankit.errors import UserError

TIMEOUT_S = 60  # per network read
# A download must bring at least MIN_BYTES in every STALL_S seconds: a mirror that trickles a byte
# every few seconds never trips the per-read timeout, and would hold the process for ever.
STALL_S = 60.0
MIN_BYTES = 64 * 1024
CHUNK = 1 << 20


class DownloadInterrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM during a download: nothing of it is kept (``str()`` says which file).

    ``signum``: the signal, so the command exits 128 + its number (130, 143), as training does.
    """

    signum = signal.SIGINT


@contextlib.contextmanager
def _signals_interrupt(name: str):
    """Within the block, SIGINT and SIGTERM stop the download at once.

    Training's handlers (`gankit.engines.guard.stop_on_signals`) only note a stop
    for the next training step, which a download never reaches; here the signal
    raises `DownloadInterrupted` inside the blocked read. Off the main thread
    (where handlers cannot be set) nothing changes.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        err = DownloadInterrupted(f"while downloading {name}; nothing of it was kept")
        err.signum = signum
        raise err

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def parse_checksum(checksum: str) -> tuple[str, str]:
    """``"sha256:<hex>"`` -> ("sha256", "<hex>") (also sha1, which some publishers give)."""
    algorithm, _, digest = checksum.partition(":")
    if algorithm not in ("sha256", "sha1") or not digest:
        raise ValueError(f"checksum must look like sha256:<hex>, got {checksum!r}")
    return algorithm, digest.lower()


def file_digest(path: Path, algorithm: str) -> str:
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


def verify(path: Path, checksum: str, url: str) -> None:
    """Check a file already in the cache; a mismatch is a `UserError` (the file is the user's: kept)."""
    algorithm, expected = parse_checksum(checksum)
    got = file_digest(path, algorithm)
    if got != expected:
        raise UserError(f"{path} has {algorithm} {got[:16]}..., not the pinned {expected[:16]}...: it is not the "
                        f"file gankit knows; remove it, or replace it with {url}")


def fetch(url: str, dest: Path, checksum: str, progress: bool | None = None) -> Path:
    """``dest``, downloaded from ``url`` unless already there, verified against ``checksum``.

    Args:
        url: http(s) or file URL.
        dest: where the file lives in the cache.
        checksum: ``"sha256:<hex>"`` (or ``"sha1:<hex>"``).
        progress: show a progress bar (default: when stderr is a terminal).

    Returns:
        ``dest``.

    Raises:
        UserError: offline, the server refused, the download was cut short, or
            the checksum differs; nothing is left at ``dest`` (or above it).
    """
    from tqdm import tqdm

    from gankit.files import atomic_file, remove_stale_temporaries

    if dest.parent.is_dir():
        remove_stale_temporaries(dest.parent)  # what a download killed outright (SIGKILL) left
    if dest.is_file():
        verify(dest, checksum, url)
        return dest
    algorithm, expected = parse_checksum(checksum)
    by_hand = f"download it by hand and put it at {dest}"
    made = _missing_parents(dest)
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        h, got = hashlib.new(algorithm), 0
        with _signals_interrupt(dest.name), urllib.request.urlopen(url, timeout=min(TIMEOUT_S, STALL_S)) \
                as response, atomic_file(dest) as tmp:
            size = response.headers.get("Content-Length")
            bar = tqdm(total=int(size) if size and size.isdigit() else None, unit="B", unit_scale=True,
                       desc=dest.name, file=sys.stderr, leave=False,
                       disable=(not progress) if progress is not None else not sys.stderr.isatty())
            window, in_window = time.monotonic(), 0
            with bar, open(tmp, "wb") as f:
                while chunk := response.read1(CHUNK):  # what has arrived, so a trickle is seen as one
                    f.write(chunk)
                    h.update(chunk)
                    got += len(chunk)
                    bar.update(len(chunk))
                    in_window += len(chunk)
                    if time.monotonic() - window >= STALL_S:
                        if in_window < MIN_BYTES:
                            raise UserError(f"the download of {dest.name} from {url} brought {in_window} bytes in "
                                            f"{STALL_S:g} s (less than {MIN_BYTES // 1024} KiB); try again, "
                                            f"another mirror, or {by_hand}")
                        window, in_window = time.monotonic(), 0
            if size and size.isdigit() and got != int(size):
                raise UserError(f"{dest.name}: the download from {url} stopped after {got} of {size} bytes; "
                                f"try again, or {by_hand}")
            if h.hexdigest() != expected:
                raise UserError(f"{dest.name} from {url} has {algorithm} {h.hexdigest()[:16]}..., not the pinned "
                                f"{expected[:16]}... (a corrupt download or a changed file); {by_hand}")
    except (UserError, DownloadInterrupted):
        _remove_empty(made)
        raise
    except (urllib.error.URLError, http.client.HTTPException, socket.timeout, OSError, ValueError) as err:
        _remove_empty(made)
        reason = getattr(err, "reason", None) or getattr(err, "strerror", None) or err
        raise UserError(f"cannot download {dest.name} from {url} ({reason}); {by_hand}") from None
    return dest


def _missing_parents(path: Path) -> list[Path]:
    """The directories above ``path`` that do not exist yet, deepest first."""
    out = []
    for parent in path.parents:
        if parent.exists():
            break
        out.append(parent)
    return out


def _remove_empty(dirs: list[Path]) -> None:
    for d in dirs:  # deepest first; stops at the first that holds something
        try:
            d.rmdir()
        except OSError:
            return


__all__ = ["DownloadInterrupted", "fetch", "file_digest", "parse_checksum", "verify"]
