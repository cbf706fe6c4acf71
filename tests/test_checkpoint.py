import json
import re
import pickle

import pytest
import torch
from safetensors.torch import load_file

from gankit.runs.checkpoint import Checkpoint, list_checkpoints, load_checkpoint, read_checkpoint, save_checkpoint
from gankit.cli import main
from gankit.errors import UserError
from gankit.runs.experiment import resume_experiment, run_experiment
from gankit.engines.guard import Interrupted
from gankit.engines.state import Callback
from gankit.engines.training import build_state, train


class StopAt(Callback):
    """Requests a stop during global step ``step`` (as a signal arriving then would)."""

    def __init__(self, step):
        self.step = step

    def on_step_end(self, state):
        if state.step == self.step - 1:  # the loop checks the flag once the next step is done
            state.stop.set()


def params(run_dir):
    return {f"{role}/{k}": v for role in ("generator", "discriminator")
            for k, v in load_file(run_dir / f"{role}.safetensors").items()}


WEIGHT_FILES = ("generator.safetensors", "discriminator.safetensors", "generator_ema.safetensors",
                "snapshots.safetensors")


def assert_same_run(a, b):
    """Weights, snapshots and metrics equal, and the weight files the same bytes (a sha256sum agrees)."""
    for name in WEIGHT_FILES:
        if (a / name).exists() or (b / name).exists():
            assert (a / name).read_bytes() == (b / name).read_bytes(), name
    pa, pb = params(a), params(b)
    assert pa.keys() == pb.keys() and all(torch.equal(pa[k], pb[k]) for k in pa)
    sa, sb = load_file(a / "snapshots.safetensors"), load_file(b / "snapshots.safetensors")
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    rows = [[{k: r[k] for k in ("epoch", "step", "loss_d", "loss_g")} for r in map(json.loads, open(d / "metrics.jsonl"))]
            for d in (a, b)]
    assert rows[0] == rows[1]


@pytest.fixture
def config(tiny_config):
    tiny_config.train.epochs = 3  # 8 batches of 8 per epoch
    tiny_config.train.engine = "general"  # stops mid-epoch; the fast path is tested below
    return tiny_config


class StopAfterEpoch(Callback):
    """Requests a stop at the end of epoch ``epoch`` (the fast path stops at epoch ends)."""

    def __init__(self, epoch):
        self.epoch = epoch

    def on_epoch_end(self, state):
        if state.epoch == self.epoch:
            state.stop.set()


def test_fast_path_stops_at_the_epoch_end_and_resumes_bitwise(tmp_path, config):
    config.train.engine = "auto"
    ref = run_experiment(config, out=tmp_path / "ref", plots=False, progress=False)
    assert ref.result.summary["engine"] == "fast"
    with pytest.raises(Interrupted) as info:
        run_experiment(config, out=tmp_path / "run", plots=False, progress=False, callbacks=[StopAfterEpoch(1)])
    assert (info.value.epoch, info.value.step, info.value.batch) == (1, 8, 0)
    out = resume_experiment(tmp_path / "run", plots=False, progress=False)
    assert out.result.summary["engine"] == "fast"
    assert_same_run(ref.run_dir, out.run_dir)


@pytest.fixture
def reference(tmp_path, config):
    return run_experiment(config, out=tmp_path / "ref", plots=False, progress=False).run_dir


@pytest.mark.parametrize("stop_step", [5, 8, 13])  # mid-epoch 1, an epoch boundary, mid-epoch 2
def test_stopped_and_resumed_run_equals_uninterrupted_bitwise(tmp_path, config, reference, stop_step):
    with pytest.raises(Interrupted) as info:
        run_experiment(config, out=tmp_path / "run", plots=False, progress=False, callbacks=[StopAt(stop_step)])
    assert info.value.step == stop_step and info.value.checkpoint.name == f"step-{stop_step:09d}.safetensors"
    assert not (tmp_path / "run" / "summary.json").exists()
    out = resume_experiment(tmp_path / "run", plots=False, progress=False)
    assert_same_run(reference, out.run_dir)
    assert out.result.summary["steps"] == 24


def test_the_bitwise_comparison_can_fail(tmp_path, config, reference):
    config.train.lr_g = 0.005 * (1 + 2**-20)  # a hair's difference in one learning rate
    other = run_experiment(config, out=tmp_path / "other", plots=False, progress=False).run_dir
    with pytest.raises(AssertionError):
        assert_same_run(reference, other)


def test_checkpoint_holds_everything_and_only_last_k_are_kept(tmp_path, config):
    config.train.keep_checkpoints = 2
    config.train.checkpoint_seconds = 0  # every epoch's, however fast
    run_dir = run_experiment(config, out=tmp_path / "run", plots=False, progress=False).run_dir
    kept = list_checkpoints(run_dir)
    assert [p.name for p in kept] == ["step-000000016.safetensors", "step-000000024.safetensors"]
    tensors, meta = read_checkpoint(kept[-1])
    assert {"G/0.weight", "D/0.weight", "opt_G/0/exp_avg", "opt_D/5/exp_avg_sq", "opt_D/0/step",
            "rng/train", "rng/torch", "rng/numpy", "rng/python", "snapshots/fake"} <= set(tensors)
    assert (meta["epoch"], meta["step"], meta["batch"]) == (3, 24, 0) and len(meta["history"]) == 3
    assert meta["optimizers"]["opt_G"]["param_groups"][0]["lr"] == 0.005


def test_optional_g_ema_is_saved_and_restored(tmp_path, config):
    state = build_state(config)
    state.G_ema = torch.nn.Linear(2, 2)
    torch.nn.init.constant_(state.G_ema.weight, 0.25)
    path = save_checkpoint(tmp_path / "c.safetensors", state)
    fresh = build_state(config)
    fresh.G_ema = torch.nn.Linear(2, 2)
    load_checkpoint(path, fresh)
    assert torch.equal(fresh.G_ema.weight, torch.full((2, 2), 0.25))
    no_ema = build_state(config)
    with pytest.raises(UserError, match="holds networks"):
        load_checkpoint(path, no_ema)


class Boom:
    """Unpickling this creates a marker file: proof that code from the file ran."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _bad_checkpoints(tmp_path, run_dir, config, reference):
    good = list_checkpoints(run_dir)[-1]
    data = good.read_bytes()
    other = config.__class__.from_dict(config.to_dict())
    other.model.generator = other.model.discriminator = "mlp"
    other_state = build_state(other)
    marker = tmp_path / "pwned"

    def incomplete(p):
        from safetensors import safe_open
        from safetensors.torch import save_file

        tensors = load_file(good)
        del tensors["rng/train"]
        with safe_open(str(good), "pt") as f:
            save_file(tensors, str(p), metadata=f.metadata())

    return marker, [
        ("incomplete", incomplete, "incomplete checkpoint (missing rng/train)"),
        ("truncated", lambda p: p.write_bytes(data[: len(data) // 2]), "not a valid safetensors file"),
        ("another architecture", lambda p: save_checkpoint(p, other_state), "checkpoint of another architecture"),
        ("pickle", lambda p: p.write_bytes(pickle.dumps(Boom(str(marker)))), "not a valid safetensors file"),
        ("torch.save", lambda p: torch.save({"G": other_state.G.state_dict(), "x": Boom(str(marker))}, p),
         "not a valid safetensors file"),
        ("plain safetensors", lambda p: p.write_bytes((reference / "generator.safetensors").read_bytes()),
         "not a gankit checkpoint"),
    ]


def test_bad_checkpoints_are_refused_with_one_line_and_exit_2(tmp_path, config, reference, capsys):
    with pytest.raises(Interrupted):
        run_experiment(config, out=tmp_path / "run", plots=False, progress=False, callbacks=[StopAt(10)])
    run_dir = tmp_path / "run"
    marker, cases = _bad_checkpoints(tmp_path, run_dir, config, reference)
    # The newest checkpoint is the one --resume reads: plant each bad file under a newer name.
    planted = run_dir / "checkpoints" / "step-000000099.safetensors"
    for what, write, message in cases:
        write(planted)
        with pytest.raises(UserError, match=re.escape(message)):
            resume_experiment(run_dir, plots=False, progress=False)
        assert main(["train", "--resume", str(run_dir), "--quiet"]) == 2, what
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith("gankit: error: ") and str(planted) in err, (what, err)
        assert message in err and "Traceback" not in err, what
    assert not marker.exists()  # no code from any file ran
    pickle.loads(pickle.dumps(Boom(str(marker)))).close()
    assert marker.exists()  # ... though unpickling would have run it
    planted.unlink()
    assert resume_experiment(run_dir, plots=False, progress=False).result.summary["steps"] == 24


def test_resume_refuses_conflicting_options_and_finished_runs(tmp_path, config, capsys):
    with pytest.raises(Interrupted):
        run_experiment(config, out=tmp_path / "run", plots=False, progress=False, callbacks=[StopAt(3)])
    run = str(tmp_path / "run")
    assert main(["train", "--resume", run, "--lr-d", "0.1"]) == 2
    assert "refusing to change train.lr_d (0.05 in the run, 0.1 asked)" in capsys.readouterr().err
    assert main(["train", "--resume", run, "--epochs", "3", "--no-plots", "--quiet"]) == 0  # same value: fine
    capsys.readouterr()
    assert main(["train", "--resume", run]) == 2
    assert "already complete" in capsys.readouterr().err
    assert main(["train", "--resume", str(tmp_path / "nope")]) == 2


def test_checkpoint_every_and_minutes(tmp_path, config, monkeypatch):
    state = build_state(config)
    cb = Checkpoint(tmp_path, every=2, minutes=0, keep=10)
    train(config, [cb], state=state)
    assert [p.name for p in list_checkpoints(tmp_path)] == [
        "step-000000000.safetensors", "step-000000016.safetensors", "step-000000024.safetensors"]
    timed = tmp_path / "timed"
    cb = Checkpoint(timed, every=0, minutes=1e-9, keep=100)  # due after every step
    train(config, [cb], state=build_state(config))
    assert len(list_checkpoints(timed)) == 25


def test_image_run_with_ema_penalty_and_n_critic_resumes_bitwise(tmp_path, monkeypatch):
    """The penalty draws from the run's stream every D step: resume must restore its position, not the epoch's."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent))
    from imagefixtures import write_idx_folder
    from test_training_images import tiny_image_config

    monkeypatch.setenv("GANKIT_CACHE", str(tmp_path / "cache"))
    config = tiny_image_config(f"idx:{write_idx_folder(tmp_path / 'mnist', n=40)}")
    config.train.penalty, config.train.penalty_weight, config.train.n_critic = "gp", 1.0, 2
    config.train.epochs = 2  # 20 training images / batch 8: 3 batches per epoch
    ref = run_experiment(config, out=tmp_path / "ref", plots=False, progress=False).run_dir
    with pytest.raises(Interrupted):
        run_experiment(config, out=tmp_path / "run", plots=False, progress=False, callbacks=[StopAt(5)])
    out = resume_experiment(tmp_path / "run", plots=False, progress=False).run_dir
    for role in ("generator", "discriminator", "generator_ema"):
        a, b = load_file(ref / f"{role}.safetensors"), load_file(out / f"{role}.safetensors")
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), role
    rows = [[json.loads(line)["loss_d"] for line in open(d / "metrics.jsonl")] for d in (ref, out)]
    assert rows[0] == rows[1]


@pytest.mark.repro
@pytest.mark.parametrize("engine", ["auto", "general"])
def test_extending_a_finished_run_equals_a_run_planned_that_long(tmp_path, tiny_config, capsys, engine):
    tiny_config.train.engine = engine
    short, straight = tmp_path / "short", tmp_path / "straight"
    run_experiment(tiny_config, out=short, plots=False, progress=False)  # 2 epochs, finished
    before = params(short)
    (short / "eval.json").write_text("{}")  # measured on the 2-epoch generator: stale once it trains on
    assert main(["train", "--resume", str(short), "--epochs", "4", "--no-plots", "--quiet"]) == 0
    capsys.readouterr()
    tiny_config.train.epochs = 4
    run_experiment(tiny_config, out=straight, plots=False, progress=False)
    assert_same_run(short, straight)  # weights, snapshots and metrics, bitwise
    assert not all(torch.equal(before[k], params(short)[k]) for k in before)  # it did train on (the check can fail)
    summary = json.loads((short / "summary.json").read_text())
    assert summary["epochs"] == 4 and summary["steps"] == 32
    assert summary["loss_g"] == json.loads((straight / "summary.json").read_text())["loss_g"]
    assert summary["engine"] == json.loads((straight / "summary.json").read_text())["engine"]
    assert json.loads((short / "config.json").read_text())["train"]["epochs"] == 4
    assert not (short / "eval.json").exists()
    last = (short / "summary.json").stat().st_mtime_ns
    assert all(p.stat().st_mtime_ns <= last for p in short.iterdir() if p.is_file())  # written last
    # Extended again, from the API this time: still the straight run's equal.
    resume_experiment(short, plots=False, progress=False, epochs=5)
    tiny_config.train.epochs = 5
    run_experiment(tiny_config, out=tmp_path / "five", plots=False, progress=False)
    assert_same_run(short, tmp_path / "five")


def test_extension_refuses_fewer_epochs_schedules_and_other_changes(tmp_path, tiny_config, capsys):
    run = tmp_path / "run"
    run_experiment(tiny_config, out=run, plots=False, progress=False)
    scheduled = tmp_path / "scheduled"
    tiny_config.train.lr_schedule = "linear"
    run_experiment(tiny_config, out=scheduled, plots=False, progress=False)
    summary = (scheduled / "summary.json").read_text()
    for args, message in [
        ([str(run), "--epochs", "1"], "--resume can only add epochs (the run is planned for 2), got 1"),
        ([str(scheduled), "--epochs", "4"], "cannot extend a run with train.lr_schedule=linear"),
        ([str(run), "--epochs", "4", "--lr-g", "0.01"], "refusing to change train.lr_g"),
    ]:
        assert main(["train", "--resume", *args, "--quiet"]) == 2
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1 and "Traceback" not in err, err
    assert (scheduled / "summary.json").read_text() == summary  # refused: the run is untouched
    assert json.loads((run / "config.json").read_text())["train"]["epochs"] == 2
    with pytest.raises(UserError, match="lr_schedule=linear"):
        resume_experiment(scheduled, plots=False, progress=False, epochs=4)
    # Negative control: the very same extension of a run with constant rates goes through.
    assert main(["train", "--resume", str(run), "--epochs", "4", "--no-plots", "--quiet"]) == 0


def test_an_extension_stopped_midway_resumes_to_its_new_end(tmp_path, tiny_config):
    run = tmp_path / "run"
    run_experiment(tiny_config, out=run, plots=False, progress=False)
    with pytest.raises(Interrupted):
        resume_experiment(run, plots=False, progress=False, epochs=4, callbacks=[StopAfterEpoch(3)])
    assert not (run / "summary.json").exists()  # no longer a complete run, so a plain resume goes on
    resume_experiment(run, plots=False, progress=False)
    tiny_config.train.epochs = 4
    run_experiment(tiny_config, out=tmp_path / "straight", plots=False, progress=False)
    assert_same_run(run, tmp_path / "straight")


def test_fast_epochs_skip_checkpoints_younger_than_checkpoint_seconds(tmp_path, config):
    """With the default 5 s, three quick epochs write the start's and the last one's only (the kill + resume
    tests in test_resume_kill.py run under this default, so resume stays exact from what is left)."""
    assert config.train.checkpoint_seconds == 5.0
    fast = run_experiment(config, out=tmp_path / "fast", plots=False, progress=False).run_dir
    assert [p.name for p in list_checkpoints(fast)] == ["step-000000000.safetensors", "step-000000024.safetensors"]
    config.train.checkpoint_seconds = 0  # the control: every epoch's is written (the newest two kept)
    each = run_experiment(config, out=tmp_path / "each", plots=False, progress=False).run_dir
    assert [p.name for p in list_checkpoints(each)] == ["step-000000016.safetensors", "step-000000024.safetensors"]
    config.train.checkpoint_seconds, config.train.lr_backoff = 5.0, 0.5  # a backoff needs every epoch's
    backoff = run_experiment(config, out=tmp_path / "backoff", plots=False, progress=False).run_dir
    assert [p.name for p in list_checkpoints(backoff)][-1] == "step-000000024.safetensors"
    assert len(list_checkpoints(backoff)) == 2 and list_checkpoints(backoff)[0].name == "step-000000016.safetensors"


def test_a_long_run_records_a_bounded_number_of_frames_and_resumes_bitwise(tmp_path, config):
    # 110 epochs: every 3rd epoch and the last is a frame (37 of them, FRAMES = 50); stopped at epoch 55, which is
    # no frame, the resumed run records the same frames as the uninterrupted one.
    config.train.engine, config.train.epochs = "auto", 110
    ref = run_experiment(config, out=tmp_path / "ref", plots=False, progress=False).run_dir
    epochs = load_file(ref / "snapshots.safetensors")["epochs"].tolist()
    assert epochs == [*range(3, 109, 3), 110] and len(epochs) == 37
    with pytest.raises(Interrupted):
        run_experiment(config, out=tmp_path / "run", plots=False, progress=False, callbacks=[StopAfterEpoch(55)])
    out = resume_experiment(tmp_path / "run", plots=False, progress=False)
    assert_same_run(ref, out.run_dir)
    config.train.epochs = 50  # up to FRAMES epochs, every epoch is a frame
    short = run_experiment(config, out=tmp_path / "short", plots=False, progress=False).run_dir
    assert load_file(short / "snapshots.safetensors")["epochs"].tolist() == list(range(1, 51))
