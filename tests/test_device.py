"""Devices, mixed precision and compilation, as far as a CPU can check them (GPU checks: benchmarks/gpu_check.sh)."""

import hashlib
import json
import math
from pathlib import Path

import pytest
import torch

from gankit.cli import main
from gankit.engines.device import DeviceData, resolve_device
from gankit.engines.general import run_epochs
from gankit.engines.training import build_state
from gankit.errors import UserError
from imagefixtures import write_idx_folder
from platform_records import recorded
from test_training_images import tiny_image_config

STORED = Path(__file__).parent / "data" / "image_runs.json"
cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device (benchmarks/gpu_check.sh)")


@pytest.fixture(scope="module")
def idx_folder(tmp_path_factory):
    return write_idx_folder(tmp_path_factory.mktemp("idx") / "m", n=32)


def _image_run(folder, seed, **train_keys):
    config = tiny_image_config(f"idx:{folder}")
    config.train.seed = seed
    for key, value in train_keys.items():
        setattr(config.train, key, value)
    state = build_state(config)
    run_epochs(config, [], state)
    return state


def _weights_sha256(state) -> str:
    h = hashlib.sha256()
    for net in (state.G, state.D, state.G_ema):
        for v in net.state_dict().values():
            h.update(v.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def _image_records(folder) -> dict[str, dict]:
    out = {}
    for seed in range(10):
        state = _image_run(folder, seed, device="cpu")
        out[str(seed)] = {"history": [{k: v for k, v in row.items() if k != "seconds"} for row in state.history],
                          "weights_sha256": _weights_sha256(state)}
    return out


@pytest.mark.repro
def test_cpu_image_runs_are_bitwise_unchanged_for_seeds_0_to_9_on_a_recorded_platform(idx_folder):
    """Tiny DCGAN runs (data, init, losses, weights) against this platform's record (tests/platform_records.py);
    the bits depend on the CPU capability and on torch's thread count, so the record is keyed by both."""
    stored, fresh = recorded(STORED, lambda: _image_records(idx_folder))
    for seed in range(10):
        assert fresh[str(seed)]["history"] == stored[str(seed)]["history"], seed
        assert fresh[str(seed)]["weights_sha256"] == stored[str(seed)]["weights_sha256"], seed
    assert stored["0"]["weights_sha256"] != stored["1"]["weights_sha256"]  # the check can tell runs apart


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_without_cuda_is_one_line_exit_2(tmp_path, capsys):
    assert main(["train", "--device", "cuda", "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no CUDA device on this machine" in err
    assert not (tmp_path / "r").exists()
    with pytest.raises(UserError, match="cuda:7"):
        resolve_device("cuda:7")
    assert resolve_device("auto") == torch.device("cpu") and resolve_device("cpu") == torch.device("cpu")


def test_a_bad_device_or_precision_name(tmp_path, capsys):
    for args, needle in ((["--device", "gpu"], "train.device must be auto, cpu, cuda"),
                         (["--precision", "8"], "unknown train.precision '8'")):
        assert main(["train", *args, "--out", str(tmp_path / "r")]) == 2
        assert needle in capsys.readouterr().err


def test_device_data_on_the_cpu_is_the_dataset_itself():
    data = torch.rand(10, 1, 4, 4) * 2 - 1
    feed = DeviceData(data, torch.device("cpu"))
    assert feed.data is data and torch.equal(feed[torch.tensor([3, 1])], data[[3, 1]])


def test_uint8_levels_are_recognised_exactly():
    """On a GPU, images that are exact levels of 255 are kept as uint8 and give back the same floats."""
    levels = torch.randint(0, 256, (6, 1, 4, 4), dtype=torch.uint8)
    data = levels.float() / 127.5 - 1.0
    assert torch.equal(torch.round((data + 1.0) * 127.5).to(torch.uint8), levels)
    assert torch.equal(torch.round((data + 1.0) * 127.5).to(torch.uint8).float() / 127.5 - 1.0, data)


@pytest.mark.parametrize("precision", ["bf16", "16"])
def test_mixed_precision_trains_on_the_cpu(idx_folder, precision):
    full = _image_run(idx_folder, 0, device="cpu")
    mixed = _image_run(idx_folder, 0, device="cpu", precision=precision)
    assert all(math.isfinite(r["loss_d"]) and math.isfinite(r["loss_g"]) for r in mixed.history)
    a, b = full.history[-1]["loss_d"], mixed.history[-1]["loss_d"]
    assert a != b and abs(a - b) < 0.2 * abs(a)  # autocast ran, and it trains the same problem
    assert (precision == "16") == bool(mixed.scalers)


def test_bf16_cli_run_trains_evaluates_and_records_where_it_ran(idx_folder, tmp_path, monkeypatch):
    monkeypatch.setenv("GANKIT_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "run"
    assert main(["train", "--data", f"idx:{idx_folder}", "--model", "dcgan", "--device", "cpu", "--precision", "bf16",
                 "--epochs", "2", "--set", "model.g_width=8", "--set", "model.d_width=8", "--set", "model.latent_dim=8",
                 "--batch-size", "8", "--set", "quality.kid_subsets=3", "--out", str(out), "--quiet", "--no-plots"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert (summary["device"], summary["precision"], summary["compile"], summary["engine"]) == \
        ("cpu", "bf16", False, "general")
    assert summary["quality"]["fd"] > 0
    assert main(["eval", str(out), "--json"]) == 0


def _straight_and_resumed(config, tmp_path, epochs: int):
    """``epochs`` trained straight, and 1 epoch, a checkpoint, a new state loaded from it, the rest."""
    from gankit.runs.checkpoint import load_checkpoint, save_checkpoint

    config.train.epochs = epochs
    straight = build_state(config)
    run_epochs(config, [], straight)
    config.train.epochs = 1
    first = build_state(config)
    run_epochs(config, [], first)
    path = save_checkpoint(tmp_path / "c.safetensors", first)
    config.train.epochs = epochs
    resumed = build_state(config)
    load_checkpoint(path, resumed)
    scales = {name: (s.get_scale(), first.scalers[name].get_scale()) for name, s in resumed.scalers.items()}
    run_epochs(config, [], resumed)
    return straight, resumed, scales


def test_float16_resumes_bitwise_with_its_scaler(idx_folder, tmp_path):
    config = tiny_image_config(f"idx:{idx_folder}")
    config.train.precision = "16"
    straight, resumed, scales = _straight_and_resumed(config, tmp_path, 3)
    assert scales and all(a == b for a, b in scales.values())  # the loss scale went on where it was
    for a, b in zip(straight.G.state_dict().values(), resumed.G.state_dict().values()):
        assert torch.equal(a, b)


@cuda
@pytest.mark.gpu
def test_gpu_placement_and_a_short_run_sample_on_the_cpu(idx_folder, tmp_path):
    out = tmp_path / "run"
    assert main(["train", *"--n 64 --epochs 2 --device cuda --quiet --no-plots".split(), "--out", str(out)]) == 0
    assert json.loads((out / "summary.json").read_text())["device"].startswith("cuda")
    assert main(["sample", str(out), "-n", "5", "--out", str(tmp_path / "s.csv")]) == 0  # on the CPU


@cuda
@pytest.mark.gpu
def test_gpu_resume_is_bitwise(idx_folder, tmp_path):
    config = tiny_image_config(f"idx:{idx_folder}")
    config.train.device = "cuda"
    straight, resumed, _ = _straight_and_resumed(config, tmp_path, 2)
    for a, b in zip(straight.G.state_dict().values(), resumed.G.state_dict().values()):
        assert torch.equal(a, b)


@cuda
@pytest.mark.gpu
@pytest.mark.parametrize("precision", ["bf16", "16"])
def test_gpu_mixed_precision_and_compile(idx_folder, precision):
    state = _image_run(idx_folder, 0, device="cuda", precision=precision, compile=True)
    assert all(math.isfinite(r["loss_d"]) for r in state.history)


def test_a_failing_compile_falls_back_to_eager_with_one_warning(idx_folder, capsys, monkeypatch):
    def broken(net, *args, **kwargs):
        raise RuntimeError("no C++ compiler here\nmore detail")

    monkeypatch.setattr(torch, "compile", broken)
    eager = _image_run(idx_folder, 0, device="cpu")
    compiled = _image_run(idx_folder, 0, device="cpu", compile=True)
    err = capsys.readouterr().err
    assert err.count("torch.compile of") == 2 and "no C++ compiler here" in err and "more detail" not in err
    assert compiled.history == eager.history or [r["loss_d"] for r in compiled.history] == \
        [r["loss_d"] for r in eager.history]  # eager, and the trial call changed nothing


@pytest.mark.slow  # a real torch.compile on the CPU: about a minute
def test_compile_trial_restores_batch_norm_statistics(idx_folder):
    from gankit.engines.device import compiled

    state = build_state(tiny_image_config(f"idx:{idx_folder}"))
    before = [b.clone() for b in state.G.buffers()]
    compiled(state.G, (torch.randn(2, 8),), "G")  # compiles here, or falls back: either way
    assert all(torch.equal(a, b) for a, b in zip(before, state.G.buffers()))
