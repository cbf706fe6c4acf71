"""Where training runs: the device, mixed precision, compilation, and data fed to the device.

The random-number contract is the same on every device: every draw of the
main stream (data, initial weights, each epoch's order and noise, a
penalty's mixing weights) is made on the CPU from the run's
``torch.Generator`` and then moved, so a seed gives the same draws on any
device, and the same run on the same device. A CPU run's numbers are the
same as before devices existed; a GPU run differs from it only by the GPU's
arithmetic (and is the same run every time on the same GPU, up to CUDA's own
nondeterminism in a few kernels).

Precision ``"bf16"`` and ``"16"`` run the forward passes under
``torch.autocast``; the logits are cast to float32 before the losses, and the
epoch's sums stay float32 (`gankit.engines.state.SUM_DTYPE`). ``"16"`` adds a
gradient scaler per optimiser, whose state goes into checkpoints.
"""

from __future__ import annotations

import contextlib
import sys

import torch
from torch import Tensor, nn

from gankit.errors import UserError

# train.precision (gankit.config.PRECISIONS) -> the autocast dtype.
AUTOCAST_DTYPES = {"32": None, "bf16": torch.bfloat16, "16": torch.float16}


def resolve_device(name: str, local_rank: int = 0) -> torch.device:
    """``train.device`` as a ``torch.device``; `UserError` if this machine has no such device.

    ``"auto"`` takes a GPU when there is one (under torchrun the one of this
    process's local rank), else Apple's ``mps``, else the CPU.
    """
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", local_rank % torch.cuda.device_count())
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            built = "without CUDA" if torch.version.cuda is None else f"with CUDA {torch.version.cuda}, but no GPU is visible"
            raise UserError(f"--device {name}: no CUDA device on this machine (torch {torch.__version__} is built "
                            f"{built}); use --device cpu or auto")
        index = int(name.split(":")[1]) if ":" in name else local_rank % torch.cuda.device_count()
        if index >= torch.cuda.device_count():
            raise UserError(f"--device {name}: this machine has {torch.cuda.device_count()} CUDA device(s)")
        return torch.device("cuda", index)
    if name == "mps" and not _mps_available():
        raise UserError("--device mps: Apple's MPS backend is not available on this machine")
    return torch.device(name)


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def autocast(device: torch.device, precision: str):
    """The forward passes' context for ``precision``: nothing for "32", else ``torch.autocast``."""
    dtype = AUTOCAST_DTYPES[precision]
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=dtype)


def grad_scaler(device: torch.device, precision: str) -> torch.amp.GradScaler | None:
    """A gradient scaler for float16 (whose small range needs one), else None."""
    if precision != "16":
        return None
    return torch.amp.GradScaler(device.type)


def is_convolutional(net: nn.Module) -> bool:
    return any(isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)) for m in net.modules())


def channels_last(net: nn.Module, device: torch.device) -> bool:
    """Put a convolutional network in channels_last layout on a GPU (faster convolutions); returns whether."""
    if device.type != "cuda" or not is_convolutional(net):
        return False
    net.to(memory_format=torch.channels_last)
    return True


def compiled(net: nn.Module, example: tuple[Tensor, ...], name: str) -> nn.Module:
    """``torch.compile(net)``, tried once on ``example``; the plain network, with one line why, where it fails.

    The trial call runs without gradients and restores the network's buffers
    (batch-norm statistics), so it changes nothing of the run.
    """
    buffers = [b.clone() for b in net.buffers()]
    try:
        fast = torch.compile(net)
        with torch.no_grad():
            fast(*example)
        return fast
    except Exception as err:  # noqa: BLE001 - any compiler failure means: run eagerly
        print(f"gankit: warning: torch.compile of {name} failed ({type(err).__name__}: "
              f"{str(err).strip().splitlines()[0][:160] if str(err).strip() else ''}); training {name} eagerly",
              file=sys.stderr)
        return net
    finally:
        with torch.no_grad():
            for b, saved in zip(net.buffers(), buffers):
                b.copy_(saved)


class DeviceData:
    """A run's training examples as the device reads them, batch by batch.

    On the CPU: the dataset's own tensor (nothing copied). On a GPU: held on
    the device when it fits, as uint8 where the images are exact levels of
    255 (4x less memory; converted per batch with the same arithmetic the
    loader used), else as float32; where it does not fit, it stays in pinned
    CPU memory and each batch is copied without blocking.
    """

    def __init__(self, data: Tensor, device: torch.device, memory_fraction: float = 0.5):
        self.device = device
        self.uint8 = False
        self.resident = True
        if device.type == "cpu":
            self.data = data
            return
        levels = torch.round((data + 1.0) * 127.5)
        exact = data.dim() == 4 and bool(((levels >= 0) & (levels <= 255)).all()) and torch.equal(
            levels.to(torch.uint8).float() / 127.5 - 1.0, data)
        stored = levels.to(torch.uint8) if exact else data
        free = _free_bytes(device)
        if free is None or stored.numel() * stored.element_size() <= memory_fraction * free:
            self.data, self.uint8 = stored.to(device), exact
        else:
            self.data, self.resident = data.pin_memory() if torch.cuda.is_available() else data, False

    def __getitem__(self, index: Tensor) -> Tensor:
        """The examples at CPU ``index`` (B,), on the device, float32."""
        if self.resident:
            batch = self.data[index.to(self.device)] if self.device.type != "cpu" else self.data[index]
            return batch.float() / 127.5 - 1.0 if self.uint8 else batch
        return self.data[index].to(self.device, non_blocking=True)


def _free_bytes(device: torch.device) -> int | None:
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0]
    return None


__all__ = ["AUTOCAST_DTYPES", "DeviceData", "autocast", "channels_last", "compiled", "grad_scaler",
           "is_convolutional", "resolve_device"]
