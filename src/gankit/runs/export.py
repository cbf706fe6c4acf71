"""A saved generator as ONNX, so other frameworks and runtimes can sample from it.

The graph maps noise ``z`` (batch, latent_dim) to points ``x`` (batch, d), or
images (batch, C, H, W) in [-1, 1], with a dynamic batch axis; a conditional
generator takes a second input ``labels`` (batch,) int64, the class of each
sample. Feed it z ~ N(0, I) to sample, exactly as ``gankit sample`` does. The
run's config, latent dimension and class names (``gankit.classes``, a JSON
list: index = label) are stored in the model's metadata.
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

import torch

from gankit.errors import UserError
from gankit.files import check_output, the_generator

OPSET = 17


def export_onnx(run_dir: str | Path, path: str | Path, opset: int = OPSET, force: bool = False) -> Path:
    """Write a run's generator as an ONNX model.

    Args:
        run_dir: the run directory (only its config and generator weights are read).
        path: the ``.onnx`` file to write (written to a temporary name, then renamed).
        force: replace an existing file (never a run's own file or a non-regular one).
        opset: ONNX opset version.

    Returns:
        The path written. Input ``z``: (batch, latent_dim) float32 (and, for a
        conditional generator, ``labels``: (batch,) int64); output ``x``:
        (batch, d) or (batch, C, H, W) float32.
    """
    try:
        import onnx
    except ImportError:
        raise UserError("ONNX export needs the onnx extra: pip install 'gankit[onnx]'") from None
    path = Path(path)
    if path.suffix.lower() != ".onnx":
        raise UserError(f"--onnx must end in .onnx, got {path}")
    check_output(path, force, "--onnx")
    config, G, role = the_generator(run_dir)
    z = torch.zeros(2, config.model.latent_dim)  # (batch, latent): only shapes matter
    inputs, names, axes = (z,), ["z"], {"z": {0: "batch"}, "x": {0: "batch"}}
    if config.model.conditional:  # the class of each sample is a second input
        inputs, names, axes = (z, torch.zeros(2, dtype=torch.int64)), ["z", "labels"], {**axes, "labels": {0: "batch"}}
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        with warnings.catch_warnings():
            # The TorchScript exporter is deprecated in favour of the torch.export
            # one, which needs onnxscript; for these small MLPs both give the same graph.
            warnings.simplefilter("ignore", DeprecationWarning)
            torch.onnx.export(G, inputs, str(tmp), dynamo=False, opset_version=opset,
                              input_names=names, output_names=["x"], dynamic_axes=axes)
        model = onnx.load(str(tmp))
        onnx.checker.check_model(model)
        from gankit.files import read_summary

        classes = read_summary(Path(run_dir)).get("classes") or []
        for key, value in {"gankit.config": json.dumps(config.to_dict()),
                           "gankit.latent_dim": str(config.model.latent_dim), "gankit.generator": role,
                           "gankit.classes": json.dumps(classes)}.items():
            entry = model.metadata_props.add()
            entry.key, entry.value = key, value
        onnx.save(model, str(tmp))
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


__all__ = ["export_onnx", "OPSET"]
