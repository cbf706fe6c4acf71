"""Is the spread of the digits' FD ratio the generator or the metric?

For each saved run, the FD ratio (FD of generated images to the held-out ones,
over FD of the training images to the held-out ones) is recomputed in the
feature spaces of classifiers trained with several seeds, each over several
independent generated sets. The spread across classifier seeds and generated
sets (the metric's) is set beside the spread across runs (the generators').

    OMP_NUM_THREADS=1 gankit train --data digits --model dcgan --seed S --out runs/digits-S   # S = 0..4
    python benchmarks/digits_metric.py runs/digits-{0,1,2,3,4} [--classifier-seeds 5] [--sets 5]
    python benchmarks/digits_metric.py runs/digits-{0,1,2,3,4} --classifier-seeds 3 --classifier-epochs 40

``--classifier-epochs`` trains the classifiers longer than gankit's recipe (12 epochs), to see
whether a stronger feature space judges the generators differently; each run's line then also
gives the classifiers' accuracy on the held-out images.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

from gankit import streams
from gankit.data import make_dataset
from gankit.files import the_generator
from gankit.metrics import features
from gankit.metrics.features import extract, train_classifier
from gankit.metrics.images import feature_fd, generate


def ratios(run: Path, classifier_seeds: int, sets: int) -> tuple[np.ndarray, float]:
    """(classifier seeds, generated sets) FD ratios of one run's generator, and the classifiers' mean
    accuracy on the held-out images."""
    config, G, _ = the_generator(run)
    dataset = make_dataset(config.data, torch.Generator().manual_seed(config.train.seed), config.train.seed)
    n = len(dataset.heldout)
    n_classes = config.model.n_classes if config.model.conditional else 0
    fake = generate(G, n * sets, config.model.latent_dim, streams.seed(config.train.seed, "quality.fake"), n_classes)
    out = np.empty((classifier_seeds, sets))
    accuracy = []
    for c in range(classifier_seeds):
        net = train_classifier(dataset.train, dataset.labels, seed=c)
        (f_train, _), (f_ref, predicted), (f_fake, _) = (extract(net, x) for x in (dataset.train, dataset.heldout, fake))
        accuracy.append(float((predicted == dataset.heldout_labels).double().mean()))
        halves = feature_fd(f_train, f_ref)
        out[c] = [feature_fd(f_fake[i * n:(i + 1) * n], f_ref) / halves for i in range(sets)]
    return out, float(np.mean(accuracy))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--classifier-seeds", type=int, default=5)
    parser.add_argument("--sets", type=int, default=5, help="independent generated sets per classifier")
    parser.add_argument("--classifier-epochs", type=int, default=features.RECIPE["epochs"],
                        help=f"epochs each classifier trains ({features.RECIPE['epochs']}, gankit's recipe)")
    parser.add_argument("--json", metavar="FILE")
    args = parser.parse_args()
    features.RECIPE["epochs"] = args.classifier_epochs
    table = {}
    print("run              mean   [2.5%, 97.5%] over classifier seeds x sets   "
          "sd over classifiers   sd over sets", flush=True)
    for run in args.runs:
        r, accuracy = ratios(run, args.classifier_seeds, args.sets)
        lo, hi = np.percentile(r, [2.5, 97.5])
        table[str(run)] = {"mean": float(r.mean()), "lo": float(lo), "hi": float(hi),
                           "sd_classifier": float(r.mean(1).std(ddof=1)), "sd_sets": float(r.std(1, ddof=1).mean()),
                           "by_classifier": r.mean(1).tolist(), "heldout_accuracy": accuracy}
        t = table[str(run)]
        print(f"{run.name:16s} {t['mean']:5.2f}  [{lo:4.2f}, {hi:4.2f}]   {t['sd_classifier']:.3f}   {t['sd_sets']:.3f}"
              f"   by classifier: {' '.join(f'{v:.2f}' for v in t['by_classifier'])}   accuracy {accuracy:.3f}",
              flush=True)
    means = np.array([t["mean"] for t in table.values()])
    within = np.mean([t["sd_classifier"] for t in table.values()])
    print(f"across runs: sd of the means {means.std(ddof=1):.3f}; within a run: sd over classifier seeds "
          f"{within:.3f} (mean)", file=sys.stderr)
    if args.json:
        Path(args.json).write_text(json.dumps(table, indent=2))


if __name__ == "__main__":
    main()
