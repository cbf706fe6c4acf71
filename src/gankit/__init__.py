"""gankit: train, watch and test generative adversarial networks.

The chapter's experiment in a few lines::

    from gankit import Config, train
    result = train(Config())
    print(result.summary["fd_to_truth"])

Names are imported on first use, so ``gankit --help`` does not load torch.
"""

from importlib import import_module

_EXPORTS = {
    "Config": "gankit.config",
    "DataConfig": "gankit.config",
    "ModelConfig": "gankit.config",
    "TrainConfig": "gankit.config",
    "load_config": "gankit.config",
    "UserError": "gankit.errors",
    "train": "gankit.training",
    "build_state": "gankit.training",
    "Callback": "gankit.training",
    "TrainResult": "gankit.training",
    "run_experiment": "gankit.experiment",
    "sample_run": "gankit.sample",
}

__all__ = sorted(_EXPORTS)
__version__ = "0.1.0"


def __getattr__(name):
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'gankit' has no attribute {name!r}")


def __dir__():
    return __all__
