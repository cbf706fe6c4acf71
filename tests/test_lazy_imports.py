"""Heavy libraries are imported only where they are used (issue 24): a run that draws no figure
never loads matplotlib; one that draws figures does (the negative control)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

import gankit

SRC = Path(gankit.__file__).resolve().parent.parent

# Runs `gankit train ARGS` in this interpreter, then prints which heavy modules were loaded.
PROBE = """
import sys
from gankit.cli import main
code = main(sys.argv[1:])
print("loaded:", ",".join(m for m in ("matplotlib", "torch") if m in sys.modules))
sys.exit(code)
"""


def loaded_after(tmp_path: Path, *args: str) -> set[str]:
    out = subprocess.run([sys.executable, "-c", PROBE, "train", "--n", "64", "--epochs", "2", "--quiet",
                          "--out", str(tmp_path / "run"), *args],
                         capture_output=True, text=True, check=True, cwd=tmp_path,
                         env={**os.environ, "PYTHONPATH": str(SRC)})
    line = out.stdout.strip().splitlines()[-1]
    assert line.startswith("loaded:")
    return set(filter(None, line.removeprefix("loaded:").strip().split(",")))


@pytest.mark.parametrize("plots", [False, True])
def test_matplotlib_is_loaded_only_when_a_figure_is_drawn(tmp_path, plots):
    loaded = loaded_after(tmp_path, *([] if plots else ["--no-plots"]))
    assert ("matplotlib" in loaded) is plots
    assert (tmp_path / "run" / "summary.json").is_file()
    assert (tmp_path / "run" / "losses.png").is_file() is plots
