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
