import pytest
import torch

from gankit import Config


@pytest.fixture
def tiny_config() -> Config:
    """The chapter's experiment, shrunk to a fraction of a second."""
    config = Config()
    config.data.n = 64
    config.train.epochs = 2
    return config


@pytest.fixture(autouse=True)
def _seed_everything():
    torch.manual_seed(0)


@pytest.fixture(autouse=True)
def _own_caches(tmp_path_factory, monkeypatch):
    """Downloads, decoded folders and feature classifiers go to fresh caches per test, never the
    user's, and no mirror applies (a test may still point GANKIT_CACHE elsewhere)."""
    monkeypatch.setenv("GANKIT_DATA", str(tmp_path_factory.mktemp("data-cache")))
    monkeypatch.setenv("GANKIT_CACHE", str(tmp_path_factory.mktemp("cache")))
    monkeypatch.delenv("GANKIT_DATA_URL", raising=False)


@pytest.fixture(scope="session")
def default_run(tmp_path_factory):
    """One run of the chapter's default experiment with every file, shared by the
    report, export and GAN Lab tests (about 10 s, paid once)."""
    from gankit.runs.experiment import run_experiment

    out = tmp_path_factory.mktemp("default") / "run"
    run_experiment(Config(), out=out, progress=False)
    return out
