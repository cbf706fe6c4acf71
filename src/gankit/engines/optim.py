"""torch's optimizers without loading TorchDynamo when nothing compiles.

``torch.optim.Optimizer``'s ``add_param_group`` (run by every constructor), ``state_dict``,
``load_state_dict`` and ``zero_grad`` are wrapped in ``torch._disable_dynamo``, which imports
``torch._dynamo`` on their first call only to exclude them from tracing (about 1.3 s here, a third
of a whole default run). Until ``torch._dynamo`` is imported nothing can be tracing, so the exclusion
is a no-op: `adam` calls such a method plainly while it is not loaded, and the moment it is loaded
(``--compile``, or a user's own ``torch.compile``) hands back to torch's own wrapper, which then
behaves exactly as it always does. If a torch release changes this mechanism, nothing here applies
and the optimizers are torch's as they are.
"""

from __future__ import annotations

import sys
from typing import Iterable

import torch

_DYNAMO = "torch._dynamo"
_CACHE = "__dynamo_disable"  # where torch._compile._disable_dynamo keeps the wrapped function
_METHODS = ("add_param_group", "state_dict", "load_state_dict", "zero_grad")


def _defer(method) -> None:
    raw = getattr(method, "__wrapped__", None)
    if raw is None or getattr(raw, _CACHE, None) is not None:
        return

    def plain(*args, **kwargs):
        if _DYNAMO in sys.modules:  # loaded now: torch's wrapper builds and caches the real exclusion
            if getattr(raw, _CACHE, None) is plain:
                delattr(raw, _CACHE)
            return method(*args, **kwargs)
        return raw(*args, **kwargs)

    setattr(raw, _CACHE, plain)


def defer_dynamo() -> None:
    """Let the optimizers' dynamo-excluded methods run without importing ``torch._dynamo`` (see above)."""
    if _DYNAMO in sys.modules:
        return
    for name in _METHODS:
        method = getattr(torch.optim.Optimizer, name, None)
        if method is not None:
            _defer(method)


def adam(params: Iterable[torch.nn.Parameter], lr: float, betas: tuple[float, float]) -> torch.optim.Adam:
    """``torch.optim.Adam(params, lr=lr, betas=betas)``, built without loading TorchDynamo."""
    defer_dynamo()
    return torch.optim.Adam(params, lr=lr, betas=betas)
