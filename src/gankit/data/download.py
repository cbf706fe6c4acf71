"""Downloads that are verified before they are used, and never left half-written.

`fetch` streams a URL to a temporary file beside its place in the data cache
(a tqdm bar on a terminal), hashing as it goes; only a file whose checksum is
the pinned one is renamed into place (`gankit.files.atomic_file`). Offline, a
failed request or a wrong checksum is one `UserError` line that names the
file, the URL and where to put the file by hand, and leaves nothing in the
cache. A file already in place (put there by hand, or downloaded before) is
verified the same way before it is used.
"""

from __future__ import annotations

import hashlib
import http.client
import socket
import sys
import urllib.error
import urllib.request
from pathlib import Path

from gankit.errors import UserError

TIMEOUT_S = 60  # per network read
CHUNK = 1 << 20


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

    from gankit.files import atomic_file

    if dest.is_file():
        verify(dest, checksum, url)
        return dest
    algorithm, expected = parse_checksum(checksum)
    by_hand = f"download it by hand and put it at {dest}"
    made = _missing_parents(dest)
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        h, got = hashlib.new(algorithm), 0
        with urllib.request.urlopen(url, timeout=TIMEOUT_S) as response, atomic_file(dest) as tmp:
            size = response.headers.get("Content-Length")
            bar = tqdm(total=int(size) if size and size.isdigit() else None, unit="B", unit_scale=True,
                       desc=dest.name, file=sys.stderr, leave=False,
                       disable=(not progress) if progress is not None else not sys.stderr.isatty())
            with bar, open(tmp, "wb") as f:
                while chunk := response.read(CHUNK):
                    f.write(chunk)
                    h.update(chunk)
                    got += len(chunk)
                    bar.update(len(chunk))
            if size and size.isdigit() and got != int(size):
                raise UserError(f"{dest.name}: the download from {url} stopped after {got} of {size} bytes; "
                                f"try again, or {by_hand}")
            if h.hexdigest() != expected:
                raise UserError(f"{dest.name} from {url} has {algorithm} {h.hexdigest()[:16]}..., not the pinned "
                                f"{expected[:16]}... (a corrupt download or a changed file); {by_hand}")
    except UserError:
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


__all__ = ["fetch", "file_digest", "parse_checksum", "verify"]
