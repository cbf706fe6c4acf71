"""A feature space for image quality when no Inception weights are at hand.

A small CNN is trained on the real *training* images: to predict their class
when labels exist, else (self-supervised) which of four rotations was applied.
Its penultimate layer (``FEATURE_DIM`` features) is the space in which
`gankit.metrics.images` compares generated and real images, the way FID uses
Inception's pool features.

Trained weights are cached as safetensors under ``<cache>/classifiers/<hash>``,
the hash covering the training images, labels, architecture and recipe, so a
second run on the same data reuses them. Nothing is unpickled.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

FEATURE_DIM = 64
RECIPE = {"version": 1, "epochs": 12, "batch_size": 64, "lr": 1e-3, "weight_decay": 1e-4, "seed": 0}


class FeatureClassifier(nn.Module):
    """(B, C, H, W) images in [-1, 1] -> (B, n_classes) logits; `features` gives (B, FEATURE_DIM).

    Three 3x3 convolutions (32, 64, 128 channels; the last two with stride 2),
    global average pooling, an affine layer to the features, ReLU, an affine
    layer to the classes.
    """

    def __init__(self, channels: int, n_classes: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, 32, 3, 1, 1), nn.ReLU(),
            nn.Conv2d(32, 64, 3, 2, 1), nn.ReLU(),
            nn.Conv2d(64, 128, 3, 2, 1), nn.ReLU(),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(),
            nn.Linear(128, FEATURE_DIM),
        )
        self.head = nn.Linear(FEATURE_DIM, n_classes)

    def features(self, x: Tensor) -> Tensor:
        """(B, C, H, W) -> (B, FEATURE_DIM) penultimate features (before the ReLU)."""
        return self.body(x)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(F.relu(self.body(x)))


def rotations(images: Tensor) -> tuple[Tensor, Tensor]:
    """The self-supervised task: (4N, C, H, W) images rotated by k * 90 degrees and their (4N,) k."""
    rotated = torch.cat([torch.rot90(images, k, dims=(2, 3)) for k in range(4)])
    return rotated, torch.arange(4).repeat_interleave(len(images))


def train_classifier(images: Tensor, labels: Tensor | None, seed: int | None = None) -> FeatureClassifier:
    """Train the feature classifier on (N, C, H, W) images (classes, or rotations when ``labels`` is None).

    ``seed`` (default: the recipe's) fixes the initial weights and the batch order.
    """
    x, y = (images, labels) if labels is not None else rotations(images)
    n_classes = int(y.max()) + 1
    rng = torch.Generator().manual_seed(RECIPE["seed"] if seed is None else seed)
    net = FeatureClassifier(images.shape[1], n_classes)
    with torch.no_grad():  # seeded init, independent of the global RNG
        for p in net.parameters():
            if p.dim() > 1:
                fan_in = p[0].numel()
                p.normal_(0.0, (2.0 / fan_in) ** 0.5, generator=rng)
            else:
                p.zero_()
    opt = torch.optim.Adam(net.parameters(), lr=RECIPE["lr"], weight_decay=RECIPE["weight_decay"])
    net.train()
    for _ in range(RECIPE["epochs"]):
        order = torch.randperm(len(x), generator=rng)
        for start in range(0, len(x), RECIPE["batch_size"]):
            batch = order[start:start + RECIPE["batch_size"]]
            loss = F.cross_entropy(net(x[batch]), y[batch])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    return net.eval()


def cache_root(cache_dir: str | Path | None = None) -> Path:
    """``cache_dir``, else $GANKIT_CACHE, else ~/.cache/gankit."""
    if cache_dir:
        return Path(cache_dir)
    if os.environ.get("GANKIT_CACHE"):
        return Path(os.environ["GANKIT_CACHE"])
    return Path.home() / ".cache" / "gankit"


def data_key(images: Tensor, labels: Tensor | None, seed: int | None = None) -> str:
    """A hash of the training images, labels, architecture and recipe (with ``seed`` in place of its own)."""
    h = hashlib.sha256()
    recipe = RECIPE if seed is None else {**RECIPE, "seed": seed}
    h.update(json.dumps({**recipe, "shape": list(images.shape), "feature_dim": FEATURE_DIM,
                         "labels": labels is not None}).encode())
    h.update(images.detach().to(torch.float32).contiguous().numpy().tobytes())
    if labels is not None:
        h.update(labels.to(torch.int64).contiguous().numpy().tobytes())
    return h.hexdigest()[:24]


def load_or_train_classifier(images: Tensor, labels: Tensor | None, cache_dir: str | Path | None = None,
                             seed: int | None = None) -> tuple[FeatureClassifier, bool]:
    """The feature classifier for these training images, from the cache or freshly trained (then cached).

    ``seed`` (default: the recipe's) is the training seed; each seed is its own cache entry.

    Returns:
        (classifier in eval mode, whether it came from the cache).
    """
    from gankit.files import load_tensors, remove_stale_temporaries, save_tensors

    path = cache_root(cache_dir) / "classifiers" / f"{data_key(images, labels, seed)}.safetensors"
    if path.parent.is_dir():
        remove_stale_temporaries(path.parent)  # what a writer killed mid-write left
    n_classes = int(labels.max()) + 1 if labels is not None else 4
    if path.is_file():
        net = FeatureClassifier(images.shape[1], n_classes)
        try:
            net.load_state_dict(load_tensors(path), strict=True)
            return net.eval(), True
        except Exception as err:  # a stale or damaged cache entry is retrained, not trusted
            print(f"gankit: ignoring cached classifier {path} ({err})", file=sys.stderr)
    net = train_classifier(images, labels, seed)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        save_tensors(path, net.state_dict(), {"format": "gankit-feature-classifier",
                                              "recipe": json.dumps(RECIPE if seed is None else {**RECIPE, "seed": seed})})
    except OSError as err:
        print(f"gankit: could not cache the feature classifier in {path.parent} ({err})", file=sys.stderr)
    return net, False


@torch.no_grad()
def extract(net: FeatureClassifier, images: Tensor, batch_size: int = 500) -> tuple[Tensor, Tensor]:
    """(N, FEATURE_DIM) features and (N,) predicted classes of (N, C, H, W) images."""
    feats, preds = [], []
    for start in range(0, len(images), batch_size):
        f = net.features(images[start:start + batch_size])
        feats.append(f)
        preds.append(net.head(F.relu(f)).argmax(1))
    return torch.cat(feats), torch.cat(preds)


__all__ = ["FEATURE_DIM", "FeatureClassifier", "cache_root", "data_key", "extract",
           "load_or_train_classifier", "rotations", "train_classifier"]
