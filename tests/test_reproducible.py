"""Same machine, same software, same seed: the same bits. Checked directly, never against a record.

The other direct checks live beside what they exercise: SIGKILL + --resume
(tests/test_resume_kill.py), --resume --epochs N against one longer run
(tests/test_checkpoint.py), one run alone against the same run inside a sweep
(tests/test_sweep.py). All carry the ``repro`` marker, and .ci/run repeats
them under ATEN_CPU_CAPABILITY=default and avx2.
"""

from __future__ import annotations

import json

import pytest

from gankit.cli import main
from gankit.runs.platform import differences, platform_facts

pytestmark = pytest.mark.repro
TIMING = {"examples_per_sec", "train_seconds", "seconds"}


def _without_timing(row: dict) -> dict:
    return {k: v for k, v in row.items() if k not in TIMING}


@pytest.mark.parametrize("args", [[], ["--data", "ring8", "--generator", "mlp", "--engine", "general"]],
                         ids=["default", "ring8-general"])
def test_a_run_twice_is_the_same_bytes(tmp_path, args, capsys):
    runs = [tmp_path / "a", tmp_path / "b"]
    for run in runs:
        assert main(["train", "--n", "256", "--epochs", "4", *args, "--no-plots", "--quiet", "--out", str(run)]) == 0
    capsys.readouterr()
    a, b = runs
    names = sorted(p.name for p in a.iterdir() if p.is_file())
    assert names == sorted(p.name for p in b.iterdir() if p.is_file())
    for name in ("generator.safetensors", "discriminator.safetensors", "snapshots.safetensors", "config.json"):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    summaries = [json.loads((r / "summary.json").read_text()) for r in runs]
    assert _without_timing(summaries[0]) == _without_timing(summaries[1])
    metrics = [[_without_timing(json.loads(line)) for line in (r / "metrics.jsonl").read_text().splitlines()]
               for r in runs]
    assert metrics[0] == metrics[1] and len(metrics[0]) == 4
    # Negative control: another seed is another run, and the comparison sees it.
    assert main(["train", "--n", "256", "--epochs", "4", *args, "--seed", "1", "--no-plots", "--quiet",
                 "--out", str(tmp_path / "c")]) == 0
    assert (tmp_path / "c" / "generator.safetensors").read_bytes() != (a / "generator.safetensors").read_bytes()


def test_the_summary_says_where_the_run_was_made(tmp_path, capsys):
    assert main(["train", "--n", "64", "--epochs", "1", "--no-plots", "--quiet", "--out", str(tmp_path / "r")]) == 0
    capsys.readouterr()
    made = json.loads((tmp_path / "r" / "summary.json").read_text())["platform"]
    import numpy as np
    import torch

    assert made["torch"] == torch.__version__ and made["numpy"] == np.__version__
    assert made["cpu_capability"] == torch.backends.cpu.get_cpu_capability() and made["device"] == "cpu"
    assert made["torch_threads"] == torch.get_num_threads() and made["numpy_blas"] and made["cpu"]
    assert differences(made, platform_facts()) == []
    assert differences(dict(made, cpu_capability="SOMETHING"), platform_facts()) == \
        [f"cpu_capability SOMETHING vs {made['cpu_capability']}"]
    assert differences(None, platform_facts()) == ["the run records no platform"]


def _retag_checkpoint(path, **facts):
    """Rewrite a checkpoint's recorded platform in place (its tensors untouched)."""
    from gankit.files import canonical_header

    data = path.read_bytes()
    n = int.from_bytes(data[:8], "little")
    header = json.loads(data[8:8 + n])
    meta = json.loads(header["__metadata__"]["gankit"])
    meta["platform"] = {**meta["platform"], **facts}
    header["__metadata__"]["gankit"] = json.dumps(meta)
    text = json.dumps(header, separators=(",", ":")).encode()
    path.write_bytes(canonical_header(len(text).to_bytes(8, "little") + text + data[8 + n:]))


def test_eval_report_and_resume_say_when_the_platforms_differ(tmp_path, capsys):
    from gankit.runs.checkpoint import list_checkpoints
    from gankit.viz.report import render_report

    run = tmp_path / "run"
    assert main(["train", "--n", "64", "--epochs", "2", "--no-plots", "--quiet", "--out", str(run)]) == 0
    # Same platform: nothing said (the negative control of each remark below).
    assert main(["eval", str(run), "--n", "64", "--permutations", "19"]) == 0
    assert "another platform" not in capsys.readouterr().err
    assert "another platform" not in render_report(run) and "Trained on " in render_report(run)

    summary = json.loads((run / "summary.json").read_text())
    here = summary["platform"]["cpu_capability"]
    summary["platform"]["cpu_capability"] = "ELSEWHERE"
    (run / "summary.json").write_text(json.dumps(summary))
    assert main(["eval", str(run), "--n", "64", "--permutations", "19"]) == 0
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"this run was made on another platform (cpu_capability ELSEWHERE vs {here})" in err
    assert "eval.json was computed on another platform than the run: cpu_capability ELSEWHERE vs" in render_report(run)

    # --resume from a checkpoint written elsewhere: said once, and recorded in the new summary.
    _retag_checkpoint(list_checkpoints(run)[-1], cpu_capability="ELSEWHERE", torch="0.0")
    assert main(["train", "--resume", str(run), "--epochs", "3", "--no-plots", "--quiet"]) == 0
    err = capsys.readouterr().err
    assert "its checkpoint was made on another platform (cpu_capability ELSEWHERE vs" in err and "torch 0.0 vs" in err
    summary = json.loads((run / "summary.json").read_text())
    assert summary["resumed_from_platform"]["cpu_capability"] == "ELSEWHERE"
    assert summary["platform"]["cpu_capability"] == here
    assert main(["train", "--resume", str(run), "--epochs", "4", "--no-plots", "--quiet"]) == 0
    assert "another platform" not in capsys.readouterr().err  # its newest checkpoint is this platform's


def test_a_hostile_platform_record_is_one_short_line(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "--n", "64", "--epochs", "1", "--no-plots", "--quiet", "--out", str(run)]) == 0
    summary = json.loads((run / "summary.json").read_text())
    for record in ({**summary["platform"], "cpu": "x" * 100_000}, "AVX512", [1, 2]):
        (run / "summary.json").write_text(json.dumps({**summary, "platform": record}))
        capsys.readouterr()
        assert main(["eval", str(run), "--n", "64", "--permutations", "19"]) == 0
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and len(err) < 600 and "platform" in err, err[:200]
