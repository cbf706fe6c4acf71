"""Figures that hold on one platform only, stored per platform (see gankit.runs.platform).

A float32 training result is the same bits on the same machine with the same
software, and only there. So a record of one (a run's summary, its weights'
hash) is kept under the deciding facts of the platform that made it, and a
test compares with it only where those facts match; elsewhere it skips and
says so, while the determinism tests (tests/test_reproducible.py and the
resume and sweep tests) check the property itself on every machine.

``GANKIT_RECORD_PLATFORM=1 pytest -m "repro and not slow" -k recorded_platform`` (or ``scripts/record-platform.sh``
for the three CPU capabilities) adds or replaces this platform's records.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from gankit.runs.platform import DECIDING, platform_facts

RECORDING = os.environ.get("GANKIT_RECORD_PLATFORM") == "1"


def platform_key() -> dict[str, Any]:
    facts = platform_facts()
    return {key: facts[key] for key in DECIDING}


def recorded(path: Path, compute) -> tuple[Any, Any]:
    """(this platform's stored values, freshly computed values); skips where none are stored.

    ``compute()`` runs first, so a run that fails still fails everywhere. With
    ``GANKIT_RECORD_PLATFORM=1`` the fresh values are stored for this platform.
    """
    fresh = compute()
    records = json.loads(path.read_text())["records"] if path.is_file() else []
    key = platform_key()
    if RECORDING:
        records = [r for r in records if r["platform"] != key] + [{"platform": key, "values": fresh}]
        path.write_text(json.dumps({"records": records}, indent=1) + "\n")
        return fresh, fresh
    for record in records:
        if record["platform"] == key:
            return record["values"], fresh
    pytest.skip(f"{path.name} holds no record for this platform ({key['cpu']}, {key['cpu_capability']}, "
                f"torch {key['torch']}, {key['torch_threads']} threads, {key['numpy_blas']}); "
                "GANKIT_RECORD_PLATFORM=1 adds one. The determinism tests ran regardless.")


README_IMAGES = Path(__file__).parent / "data" / "readme_images_platform.json"


def made_here(path: Path = README_IMAGES, **override: Any) -> bool:
    """Whether this platform (with ``override``, e.g. ``torch_threads=1`` for a subprocess run with
    OMP_NUM_THREADS=1) is the one recorded in ``path``, where a document's single-run figures were measured."""
    stored = json.loads(path.read_text())["platform"]
    return stored == {**platform_key(), **override}
