"""gankit: train, watch and test generative adversarial networks.

The chapter's experiment in a few lines::

    from gankit import Config, train
    result = train(Config())
    print(result.summary["fd_to_truth"])

``Config()`` is the chapter's defaults; ``configure({...})`` gives the config
``gankit train`` would train for the same settings, presets included.

Names are imported on first use, so ``gankit --help`` does not load torch.
"""

import importlib.abc
import importlib.util
import sys
from importlib import import_module

_EXPORTS = {
    "Config": "gankit.config",
    "DataConfig": "gankit.config",
    "ModelConfig": "gankit.config",
    "TrainConfig": "gankit.config",
    "load_config": "gankit.config",
    "configure": "gankit.presets",
    "UserError": "gankit.errors",
    "train": "gankit.engines.training",
    "train_many": "gankit.engines.sweep",
    "build_state": "gankit.engines.training",
    "Callback": "gankit.engines.state",
    "TrainState": "gankit.engines.state",
    "TrainResult": "gankit.engines.training",
    "run_experiment": "gankit.runs.experiment",
    "sample_run": "gankit.runs.sample",
}

# Module paths from before the packages by role, kept importable because the
# notebook, the guide and users' scripts name them: old path -> where it lives.
MODULE_ALIASES = {"gankit.ganlab": "gankit.viz.ganlab", "gankit.live": "gankit.viz.live",
                  "gankit.objectives": "gankit.engines.objectives"}


class _AliasFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Imports an old module path in `MODULE_ALIASES` as the module it now names (the same object)."""

    def find_spec(self, name, path=None, target=None):
        return importlib.util.spec_from_loader(name, self) if name in MODULE_ALIASES else None

    def create_module(self, spec):
        return import_module(MODULE_ALIASES[spec.name])

    def exec_module(self, module):
        pass  # already executed under its own name


if not any(isinstance(f, _AliasFinder) for f in sys.meta_path):
    sys.meta_path.append(_AliasFinder())

__all__ = sorted(_EXPORTS)
__version__ = "0.1.0"


def __getattr__(name):
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name]), name)
    if f"gankit.{name}" in MODULE_ALIASES:
        return import_module(f"gankit.{name}")
    raise AttributeError(f"module 'gankit' has no attribute {name!r}")


def __dir__():
    return __all__
