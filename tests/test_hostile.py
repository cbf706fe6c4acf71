"""Hostile input: every bad file, size or value is one line on stderr, exit status 2, and nothing changes.

`CASES` is one battery run through the command line (in-process), grouped by the
hostile tester's report: 12 sizes beyond memory, 13 tiny image sets, 14 parsing
gaps, 15 well-formed but hostile safetensors (weights, snapshots, checkpoints).
Each case builds its input inside the test (seeded, nothing downloaded); the
test asserts the message, the exit status, and that no file under the case's
folder appeared, changed or vanished (no run directory, no half-written output,
no deleted run). Refusals by memory never allocate: the estimate comes first.
The remaining tests cover what must *work* on hostile input: tiny image sets
train and evaluate with skipped scores recorded, a damaged snapshots file costs
the report its animations, not the page.
"""

from __future__ import annotations

import functools
import gzip
import io
import json
import shutil
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

import gankit.data.memory
from gankit import Config
from gankit.cli import main
from gankit.errors import UserError
from imagefixtures import blobs, idx_bytes, write_image_folder

CHECKPOINT = "checkpoints/step-000000008.safetensors"  # epoch 1 of 2, 8 steps per epoch


class Runs:
    """Two finished runs, each made once, when a case first asks for it: the chapter's on 64 points,
    and DCGAN on 5 images (2 held out)."""

    def __init__(self, root: Path):
        self.root = root

    @functools.cached_property
    def points(self) -> Path:
        from gankit.runs.experiment import run_experiment

        config = Config()
        config.data.n, config.train.epochs = 64, 2
        config.train.checkpoint_seconds = 0  # every epoch's checkpoint: the cases edit epoch 1's
        run_experiment(config, out=self.root / "points", plots=False, progress=False)
        return self.root / "points"

    @functools.cached_property
    def image(self) -> Path:
        from gankit.presets import preset_config
        from gankit.runs.experiment import run_experiment

        np.savez(self.root / "five.npz", images=blobs(5)[0])
        config = preset_config("dcgan")  # holds out half: 3 images to train on, 2 to compare with
        config.data.source = str(self.root / "five.npz")
        config.model.g_width = config.model.d_width = config.model.latent_dim = 8
        config.train.epochs, config.quality.kid_subsets = 1, 3
        run_experiment(config, out=self.root / "image", plots=False, progress=False)
        return self.root / "image"

    def copy(self, name: str, tmp: Path) -> Path:
        return Path(shutil.copytree(getattr(self, name), tmp / name))

    def interrupted(self, tmp: Path) -> Path:
        """A copy of the points run as if stopped after epoch 1: its newest checkpoint is ``CHECKPOINT``."""
        run = self.copy("points", tmp)
        (run / "summary.json").unlink()
        (run / "checkpoints" / "step-000000016.safetensors").unlink()
        return run


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> Runs:
    return Runs(tmp_path_factory.mktemp("hostile"))


@pytest.fixture(autouse=True)
def _cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("GANKIT_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))


# -- building hostile files ------------------------------------------------------------------


def rewrite(path: Path, edit: Callable) -> None:
    """Rewrite a safetensors file: ``edit(tensors, meta)`` changes them in place or returns new metadata.

    ``meta`` is the checkpoint's parsed JSON for a checkpoint, else the raw metadata dict.
    """
    tensors = load_file(path)
    with safe_open(str(path), "pt") as f:
        raw = f.metadata()
    meta = json.loads(raw["gankit"]) if "gankit" in raw else raw
    new = edit(tensors, meta)
    meta = meta if new is None else new
    if "gankit" in raw:
        raw["gankit"] = meta if isinstance(meta, str) else json.dumps(meta)
    else:
        raw = meta
    save_file({k: v.clone().contiguous() for k, v in tensors.items()}, str(path), metadata=raw)


def deep(levels: int) -> str:
    return "[" * levels + "]" * levels


def write(path: Path, text: str | bytes) -> Path:
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return path


def csv_of(path: Path, array: np.ndarray) -> Path:
    np.savetxt(path, array, delimiter=",", fmt="%.6g")
    return path


def npz_claiming(path: Path, shape: tuple[int, ...]) -> Path:
    """An .npz whose 'images' header promises ``shape`` (the data is a few bytes)."""
    buf = io.BytesIO()
    np.save(buf, np.zeros((2, 8, 8), dtype=np.uint8))
    header = buf.getvalue().decode("latin1").replace("(2, 8, 8)", str(shape))
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("images.npy", header.encode("latin1"))
    return path


def idx_folder(path: Path, images: bytes, suffix: str = ".gz") -> Path:
    path.mkdir()
    (path / f"train-images-idx3-ubyte{suffix}").write_bytes(images)
    return path


def tampered(edit: Callable) -> Callable:
    """A case maker: resume an interrupted copy of the points run whose checkpoint ``edit`` changed."""
    def make(tmp: Path, runs: Runs) -> list[str]:
        run = runs.interrupted(tmp)
        rewrite(run / CHECKPOINT, edit)
        return ["train", "--resume", str(run), "--no-plots", "--quiet"]
    return make


def weights(name: str, file: str, edit: Callable, *command: str) -> Callable:
    """A case maker: ``command`` on a copy of run ``name`` whose ``file`` ``edit`` changed."""
    def make(tmp: Path, runs: Runs) -> list[str]:
        run = runs.copy(name, tmp)
        rewrite(run / file, edit)
        return [command[0], str(run), *command[1:]]
    return make


def on_run(name: str, *command: str, prepare: Callable | None = None) -> Callable:
    """A case maker: ``command RUN ...`` on a copy of run ``name``, after ``prepare(run)``."""
    def make(tmp: Path, runs: Runs) -> list[str]:
        run = runs.copy(name, tmp)
        if prepare:
            prepare(run)
        return [command[0], str(run), *[a.replace("{tmp}", str(tmp)) for a in command[1:]]]
    return make


def train(*args: str, data: Callable | None = None) -> Callable:
    """A case maker: ``gankit train`` (runs under the case's folder), with ``--data`` from ``data(tmp)``."""
    def make(tmp: Path, runs: Runs) -> list[str]:
        extra = ["--data", str(data(tmp))] if data else []
        return ["train", *args, *extra, "--runs", str(tmp / "runs"), "--no-plots", "--quiet"]
    return make


def set_tensor(key: str, fn: Callable) -> Callable:
    return lambda t, m: t.update({key: fn(t[key])})


def set_meta(**values) -> Callable:
    return lambda t, m: m.update(values)


def _has_sweep_dir() -> bool:
    import importlib.util

    return importlib.util.find_spec("gankit.runs.sweep") is not None


@dataclass
class Case:
    id: str
    make: Callable  # (tmp, runs) -> argv
    message: str
    memory: int | None = None  # bytes of memory available, for cases that need a small machine
    patch: Callable | None = None  # (monkeypatch) -> None
    marks: tuple = ()


TINY_PNG = 8 * 8
CASES = [
    # 12: sizes beyond memory are refused before anything is allocated or written
    Case("12-train-n-huge", train("--n", "100000000000"),
         "drawing data.n = 100000000000 points of 2 values from the target 'gaussian' needs about"),
    Case("12-train-n-huge-from-json-float", train("--set", "data.n=1e11"), "drawing data.n = 100000000000 points"),
    Case("12-train-latent-dim-huge", train("--latent-dim", "100000000"),
         "with model.latent_dim 100000000 needs about"),
    Case("12-train-csv-100000-columns",
         train(data=lambda tmp: csv_of(tmp / "wide.csv", np.random.default_rng(0).normal(size=(4, 100_000)))),
         "wide.csv: training on 4 examples of 100000 values with model.latent_dim 2 needs about"),
    Case("12-train-csv-cells-beyond-memory", train(data=lambda tmp: csv_of(tmp / "many.csv", np.ones((5000, 4)))),
         "many.csv: parsing needs about", memory=1 << 20),
    Case("12-train-idx-gzip-bomb", train(data=lambda tmp: "idx:" + str(idx_folder(
        tmp / "bomb", gzip.compress(idx_bytes(np.zeros((4000, 32, 32), np.uint8)))))),
        "decompresses to more than", memory=8 << 20),
    Case("12-train-idx-file-beyond-memory", train(data=lambda tmp: "idx:" + str(idx_folder(
        tmp / "idx", idx_bytes(np.zeros((64, 32, 32), np.uint8)), suffix=""))),
        "train-images-idx3-ubyte: reading needs about", memory=256 << 10),
    Case("12-train-image-folder-beyond-memory",
         train(data=lambda tmp: f"folder:{write_image_folder(tmp / 'pngs', n=4)}"),
         "pngs: decoding 4 image files", memory=1 << 10),
    Case("12-train-npz-header-huge", train(data=lambda tmp: npz_claiming(tmp / "huge.npz", (10**11, 8, 8))),
         "huge.npz: loading needs about"),
    Case("12-sample-n-huge", on_run("points", "sample", "-n", "100000000000", "--out", "{tmp}/s.npy"),
         "drawing -n 100000000000 examples of 2 values needs about"),
    Case("12-eval-n-huge", on_run("points", "eval", "--n", "100000000000"),
         "evaluating --n 100000000000 points of 2 values needs about"),
    Case("12-image-sample-n-huge", on_run("image", "sample", "-n", "100000000000", "--out", "{tmp}/grid.png"),
         "drawing -n 100000000000 examples of 1 x 8 x 8 values needs about"),
    Case("12-image-eval-n-huge", on_run("image", "eval", "--n", "100000000000"),
         "quality scores of 5 sets of 100000000000 generated images needs about"),
    Case("12-sweep-seeds-huge", lambda tmp, runs: ["sweep", "--seeds", "100000000000", "--out", str(tmp / "sweep")],
         "a sweep of 100000000000 runs (100000000000 seeds x 1 grid points) needs about",
         marks=(pytest.mark.skipif(not _has_sweep_dir(), reason="gankit.runs.sweep is not in this tree"),)),
    # 13: tiny image sets: --n of an image evaluation is checked
    Case("13-image-eval-n-2", on_run("image", "eval", "--n", "2"), "--n must be at least 4 for an image run"),
    Case("13-image-eval-seed-negative", on_run("image", "eval", "--seed", "-1"), "--seed must be non-negative"),
    # 14: parsing gaps
    Case("14-idx-gzip-garbage", train(data=lambda tmp: "idx:" + str(idx_folder(
        tmp / "idx", b"\x1f\x8b\x08\x00" + np.random.default_rng(0).bytes(100)))),
        "train-images-idx3-ubyte.gz: corrupt gzip file"),
    Case("14-idx-gzip-truncated", train(data=lambda tmp: "idx:" + str(idx_folder(
        tmp / "idx", gzip.compress(idx_bytes(np.zeros((4, 8, 8), np.uint8)))[:30]))), "corrupt gzip file"),
    Case("14-config-nested-100000", lambda tmp, runs: ["train", "--config", str(write(
        tmp / "deep.json", '{"data": ' + deep(100_000) + "}")), "--runs", str(tmp / "runs")],
        "deep.json: JSON nested too deeply (more than 32 levels)"),
    Case("14-config-nested-900", lambda tmp, runs: ["train", "--config", str(write(
        tmp / "deep.json", '{"data": {"mean": ' + deep(900) + "}}")), "--runs", str(tmp / "runs")],
        "deep.json: JSON nested too deeply"),
    Case("14-set-nested", train("--set", "data.mean=" + deep(5000)), "--set data.mean: JSON nested too deeply"),
    Case("14-run-config-nested", on_run("points", "sample", prepare=lambda run: write(
        run / "config.json", deep(5000))), "config.json: JSON nested too deeply"),
    Case("14-run-summary-nested", on_run("points", "eval", prepare=lambda run: write(
        run / "summary.json", deep(5000))), "summary.json: JSON nested too deeply"),
    Case("14-run-eval-json-nested", on_run("points", "report", prepare=lambda run: write(
        run / "eval.json", deep(5000))), "eval.json: JSON nested too deeply"),
    Case("14-csv-1e300", train(data=lambda tmp: csv_of(tmp / "huge.csv", np.full((50, 2), 1e300))),
         "huge.csv: value 1e+300 at row 1, column 1 is too large"),
    Case("14-csv-squares-overflow",
         train(data=lambda tmp: csv_of(tmp / "big.csv", np.array([[1.0, 2.0], [3e19, 1.0]]))),
         "big.csv: value 3e+19 at row 2, column 1 is too large"),
    Case("14-npy-beyond-float32", train(data=lambda tmp: np.save(tmp / "x.npy", np.array([[1.0, 2.0], [1e39, 1.0]]))
                                        or tmp / "x.npy"), "x.npy: value 1e+39 at row 2, column 1 is too large"),
    Case("14-target-mean-1e300", train("--set", "data.mean=[1e300,1]"),
         "the target 'gaussian' (data.mean, data.transform): non-finite value inf"),
    Case("14-png-decompression-bomb", train(data=lambda tmp: f"folder:{write_image_folder(tmp / 'pngs', n=4)}"),
         "unreadable image (DecompressionBombError",
         patch=lambda mp: mp.setattr("PIL.Image.MAX_IMAGE_PIXELS", TINY_PNG // 4)),
    # 15: well-formed safetensors with hostile contents: weights
    Case("15-generator-nan", weights("points", "generator.safetensors",
                                     set_tensor("0.weight", lambda w: w.fill_(float("nan"))), "sample", "-n", "2"),
         "generator.safetensors: weights 0.weight hold non-finite values"),
    Case("15-generator-int8", weights("points", "generator.safetensors",
                                      set_tensor("0.weight", lambda w: w.to(torch.int8)), "sample", "-n", "2"),
         "generator.safetensors: weights 0.weight are torch.int8, expected torch.float32"),
    Case("15-generator-overflows", weights("points", "generator.safetensors",
                                           set_tensor("0.weight", lambda w: w.fill_(3e38)), "sample", "-n", "2"),
         "generator.safetensors: the generator's output is not finite"),
    Case("15-generator-data-shape", weights("points", "generator.safetensors",
                                            lambda t, m: m.update(data_shape="[0]"), "sample", "-n", "2"),
         "data_shape [0] in its metadata is not a shape"),
    Case("15-discriminator-nan", weights("points", "discriminator.safetensors",
                                         set_tensor("0.bias", lambda w: w.fill_(float("inf"))), "eval", "--n", "8"),
         "discriminator.safetensors: weights 0.bias hold non-finite values"),
    # 15: checkpoints: the metadata's types, ranges and consistency
    Case("15-ckpt-meta-a-list", tampered(lambda t, m: [1, 2]), "not a gankit checkpoint"),
    Case("15-ckpt-meta-nested", tampered(lambda t, m: '{"format": ' + deep(5000) + "}"), "not a gankit checkpoint"),
    Case("15-ckpt-config-not-object", tampered(set_meta(config=5)), "config must be an object with a model section"),
    Case("15-ckpt-step-text", tampered(set_meta(step="abc")), "step must be an integer in [0, 16], got 'abc'"),
    Case("15-ckpt-epoch-negative", tampered(set_meta(epoch=-5)), "epoch must be an integer in [0, 2], got -5"),
    Case("15-ckpt-epoch-huge", tampered(set_meta(epoch=10**6)), "epoch must be an integer in [0, 2], got 1000000"),
    Case("15-ckpt-batch-beyond-epoch", tampered(set_meta(batch=99)), "batch must be an integer in [0, 8], got 99"),
    Case("15-ckpt-step-inconsistent", tampered(set_meta(step=11)),
         "step 11 does not match epoch 1 and batch 0 (8 steps per epoch)"),
    Case("15-ckpt-history-text", tampered(set_meta(history="abc")), "history must be a list of one row per epoch"),
    Case("15-ckpt-history-row", tampered(lambda t, m: m["history"][0].update(loss_d="x")),
         "history row 1 must be an object of numbers"),
    Case("15-ckpt-train-seconds", tampered(set_meta(train_seconds=-1)), "train_seconds must be a non-negative number"),
    Case("15-ckpt-numpy-rng-kind", tampered(lambda t, m: m["numpy_rng"].update(kind="PCG64")),
         "numpy_rng must be NumPy's MT19937 state"),
    Case("15-ckpt-python-rng-version", tampered(lambda t, m: m["python_rng"].update(version=2)),
         "python_rng must be Python's Mersenne twister state"),
    Case("15-ckpt-lr-backoffs-text", tampered(set_meta(lr_backoffs="x")), "lr_backoffs must be a list of backoffs"),
    Case("15-ckpt-opt-scalars-list", tampered(lambda t, m: m["optimizers"]["opt_G"].update(scalars=[1])),
         "optimiser state opt_G does not fit this run"),
    Case("15-ckpt-opt-lr-text", tampered(lambda t, m: m["optimizers"]["opt_G"]["param_groups"][0].update(lr="x")),
         "optimiser state opt_G does not fit this run (param_groups lr is x"),
    Case("15-ckpt-opt-betas", tampered(lambda t, m: m["optimizers"]["opt_D"]["param_groups"][0].update(betas=[2, 1])),
         "optimiser state opt_D does not fit this run (param_groups betas is (2, 1)"),
    # 15: checkpoints: tensor dtypes, sizes and values
    Case("15-ckpt-weights-int8", tampered(set_tensor("G/0.weight", lambda w: w.to(torch.int8))),
         "G/0.weight is torch.int8, expected torch.float32"),
    Case("15-ckpt-adam-step-count", tampered(set_tensor("opt_D/0/step", lambda s: s * 0 + 3)),
         "step of parameter 0 is torch.float32 3.0, expected float32 8"),
    Case("15-ckpt-adam-moment-float64", tampered(set_tensor("opt_D/0/exp_avg", lambda s: s.double())),
         "exp_avg of parameter 0 is torch.float64 of shape (5, 2), expected torch.float32"),
    Case("15-ckpt-rng-train-size", tampered(set_tensor("rng/train", lambda s: s[:100])),
         "rng/train is torch.uint8 of shape (100,), expected torch's CPU generator state"),
    Case("15-ckpt-rng-torch-dtype", tampered(set_tensor("rng/torch", lambda s: s.to(torch.int64))),
         "rng/torch is torch.int64 of shape (5056,)"),
    Case("15-ckpt-rng-python-negative", tampered(set_tensor("rng/python", lambda s: s * 0 - 1)),
         "rng/python holds values outside a Mersenne twister's 32-bit state"),
    Case("15-ckpt-sums-nan", tampered(set_tensor("position/sums", lambda s: s * float("nan"))),
         "position/sums must be 4 finite float32 sums"),
    Case("15-ckpt-snapshots-shape", tampered(set_tensor("snapshots/fake", lambda s: s[:, :7])),
         "snapshots/fake is torch.float32 of shape (1, 7, 2), which does not fit 1 recorded epoch(s)"),
    Case("15-ckpt-snapshots-nan", tampered(set_tensor("snapshots/pull", lambda s: s * float("nan"))),
         "snapshots/pull holds non-finite values"),
    Case("15-ckpt-snapshots-epochs", tampered(set_tensor("snapshots/epochs", lambda s: s * 5)),
         "snapshots/epochs must increase within 1 to 1, got [5]"),
    Case("15-ckpt-unknown-tensor", tampered(lambda t, m: t.update({"extra/x": torch.zeros(3)})),
         "unexpected tensors extra/... in the checkpoint"),
]


def tree(root: Path) -> dict[str, tuple[int, int]]:
    """Every file under ``root``: size and modification time."""
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns) for p in root.rglob("*") if p.is_file()}


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id, marks=c.marks) for c in CASES])
def test_hostile_input_is_one_line_exit_2_and_changes_nothing(case, runs, tmp_path, capsys, monkeypatch):
    argv = case.make(tmp_path, runs)
    capsys.readouterr()  # what making the runs said (a tiny data set's warning) is not the case's
    if case.memory is not None:
        monkeypatch.setattr(gankit.data.memory, "available_bytes", lambda: case.memory)
    if case.patch is not None:
        case.patch(monkeypatch)
    before = tree(tmp_path)
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2, (case.id, err[-500:])
    assert err.startswith("gankit: error: ") and err.count("\n") == 1 and "Traceback" not in err, err[-500:]
    assert case.message in err, err
    assert tree(tmp_path) == before  # no run directory, no output, nothing of a run removed


def test_the_battery_counts_every_class():
    classes = {c.id.split("-")[0] for c in CASES}
    assert classes == {"12", "13", "14", "15"} and len(CASES) >= 55


def test_an_untampered_copy_resumes(runs, tmp_path, capsys):
    """Positive control for the checkpoint cases: the copy they tamper with resumes as it is."""
    run = runs.interrupted(tmp_path)
    assert main(["train", "--resume", str(run), "--no-plots", "--quiet"]) == 0
    assert json.loads((run / "summary.json").read_text())["steps"] == 16


def test_the_sweep_refuses_too_many_seeds_before_building_any_config():
    from gankit.engines.sweep import sweep_configs

    with pytest.raises(UserError, match=r"a sweep of 100000000000 runs .* needs about .*; lower --seeds"):
        sweep_configs(Config(), [], 10**11)
    assert len(sweep_configs(Config(), [], 3)) == 3


def test_memory_is_read_from_the_machine():
    available = gankit.data.memory.available_bytes()
    assert 2**20 < available < 2**62  # MemAvailable, a cgroup's limit or the physical memory
    gankit.data.memory.require({"a small array": (1024.0, "-")}, "a small thing")  # fits: no error


# -- 13: tiny image sets train and evaluate; what cannot be measured is recorded as skipped --


def test_a_five_image_set_trains_and_records_quality(runs):
    summary = json.loads((runs.image / "summary.json").read_text())
    q = summary["quality"]
    assert (runs.image / "generator.safetensors").is_file() and (runs.image / "discriminator.safetensors").is_file()
    assert q["n_reference"] == 2 and q["n_generated"] == 2 and q["pr_k"] == 1  # k = 3 needs 4 a side
    assert 0 <= q["precision"] <= 1 and 0 <= q["recall"] <= 1 and q["fd"] > 0 and q["kid_subset_size"] == 2


def test_an_image_run_evaluates_with_the_smallest_n(runs, tmp_path, capsys):
    run = runs.copy("image", tmp_path)
    assert main(["eval", str(run), "--n", "4", "--json"]) == 0
    q = json.loads(capsys.readouterr().out)
    assert q["n_generated"] == 4 and q["pr_k"] == 1 and q["precision"] is not None


def test_scores_of_too_few_images_are_skipped_with_a_reason():
    from gankit.metrics.images import kid, precision_recall

    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(5, 4, generator=g), torch.randn(1, 4, generator=g)
    pr = precision_recall(real=a, generated=b)
    assert pr["precision"] is None and pr["pr_skipped"] == "needs at least 2 images a side, got 5 real and 1 generated"
    assert kid(a, b)["kid"] is None and "got 5 and 1" in kid(a, b)["kid_skipped"]
    same = precision_recall(real=a[:3], generated=a[:3])  # k falls to 2; a set lies on its own manifold
    assert same == {"precision": 1.0, "recall": 1.0, "pr_k": 2}
    far = precision_recall(real=a[:3], generated=a[:3] + 100)
    assert far["precision"] == 0.0 and far["recall"] == 0.0


def test_quality_of_one_generated_image_is_json_with_reasons(tmp_path):
    from gankit.data import Dataset
    from gankit.metrics.images import evaluate_images, format_quality
    from gankit.models import build_generator

    config = Config()
    config.model.generator, config.model.g_width, config.model.latent_dim = "dcgan", 4, 8
    images = torch.from_numpy(blobs(4)[0].astype(np.float32) / 127.5 - 1)[:, None]  # (4, 1, 8, 8)
    G = build_generator(config.model, (1, 8, 8))
    q = evaluate_images(G, Dataset(images, None, None, "four"), 8, n=1, fd_sets=2, kid_subsets=2,
                        cache_dir=str(tmp_path))
    json.dumps(q, allow_nan=False)  # what summary.json and eval.json must hold
    assert q["fd"] is None and q["fd_skipped"].startswith("needs at least 2 images a side, got 1 generated")
    assert q["precision"] is None and q["kid"] is not None and q["fd_noise"] > 0  # 2 generated vs 4 for KID
    text = format_quality(q)
    assert "FD - +- -" in text and "skipped: needs at least 2 images" in text


# -- 15: a damaged snapshots file costs the report its animations, with a note, not the page --


@pytest.mark.parametrize("edit, note", [
    (set_tensor("extent", lambda e: e * float("nan")), "extent holds non-finite values"),
    (set_tensor("fake", lambda f: f.to(torch.int64)), "fake is torch.int64 with 3 dimensions, expected torch.float32"),
    (set_tensor("epochs", lambda e: e + 100), "it records epoch 102, but the run has 2"),
    (set_tensor("surface", lambda s: s + 1), "surface holds probabilities outside [0, 1]"),
    (lambda t, m: [t.pop("real")] and None, "not a snapshots file (missing real)"),
], ids=["nan-extent", "int64-fake", "epochs-beyond-run", "surface-not-probabilities", "no-real"])
def test_a_damaged_snapshots_file_is_noted_and_skipped(runs, tmp_path, capsys, edit, note):
    run = runs.copy("points", tmp_path)
    rewrite(run / "snapshots.safetensors", edit)
    assert main(["report", str(run)]) == 0
    note_line, *rest = capsys.readouterr().err.splitlines()  # then "report written to ..."
    assert note_line.startswith(f"gankit: {run / 'snapshots.safetensors'}: ") and note in note_line, note_line
    assert rest == [f"report written to {run / 'report.html'}"]
    page = (run / "report.html").read_text()
    assert note in page and not (run / "ganlab.gif").exists()


def test_good_snapshots_pass_the_check(runs):
    from gankit.viz.snapshots import read_snapshots

    snapshots = read_snapshots(runs.points / "snapshots.safetensors", max_epochs=2)
    assert snapshots["fake"].shape == (2, 100, 2) and snapshots["epochs"].tolist() == [1, 2]
