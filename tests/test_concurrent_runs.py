"""Two `gankit train` processes started together in one output folder never clobber each other."""

import json
import subprocess
import sys

from safetensors.torch import load_file


def test_two_runs_started_together_get_separate_complete_directories(tmp_path):
    runs = tmp_path / "runs"
    cmd = [sys.executable, "-m", "gankit", "train", "--n", "64", "--epochs", "2", "--no-plots", "--quiet",
           "--runs", str(runs), "--name", "same"]
    procs = [subprocess.Popen([*cmd, "--seed", str(seed)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for seed in (0, 1)]
    results = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], results
    dirs = sorted(runs.iterdir())
    assert [d.name for d in dirs] == ["same", "same-2"]
    seeds = set()
    for d in dirs:
        assert {"config.json", "metrics.jsonl", "metrics.csv", "summary.json", "generator.safetensors",
                "discriminator.safetensors", "snapshots.safetensors"} <= {p.name for p in d.iterdir()}
        assert not [p for p in d.rglob(".*")]  # no temporary files
        summary = json.loads((d / "summary.json").read_text())
        config = json.loads((d / "config.json").read_text())
        assert summary["seed"] == config["train"]["seed"] and summary["steps"] == 16
        assert len((d / "metrics.csv").read_text().splitlines()) == 3
        load_file(d / "generator.safetensors")
        seeds.add(summary["seed"])
    assert seeds == {0, 1}  # each directory holds one whole run, not a mix
