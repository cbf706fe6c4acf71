"""Image quality in a feature space: Fréchet distance, KID, precision/recall, mode coverage.

All scores compare two sets of (N, d) features, in float64:

- ``feature_fd``: Fréchet distance between Gaussian fits (FID's formula);
- ``kid``: kernel inception distance (Bińkowski et al. 2018), the unbiased
  MMD^2 with the kernel k(x, y) = (x.y / d + 1)^3, averaged over random
  subsets, with its standard deviation and standard error over them;
- ``precision_recall``: improved precision and recall (Kynkäänniemi et al.
  2019): a sample lies on the other set's manifold when it is within the
  k-th nearest-neighbour radius of one of its points;
- ``class_fractions``: the share of generated images the classifier puts in
  each class (mode coverage);
- ``label_accuracy`` (conditional G): how often an image drawn for a class is
  that class, by the same classifier (does the label change what G draws?).

`evaluate_images` computes them all, for a generator against held-out real
images, beside the same scores of the real training images (the best a
generator could be expected to do: the *real halves* baseline) and of uniform
noise (the worst). Sample sizes are recorded beside every score.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from gankit import streams
from gankit.models import device_of
from gankit.metrics.features import extract, load_or_train_classifier
from gankit.metrics.gaussian import frechet_distance, gaussian_fit

# The fewest images per generated set `evaluate_run` accepts: precision and recall's k = 3, plus one.
MIN_EVAL_IMAGES = 4


def feature_fd(a: Tensor, b: Tensor) -> float:
    """Fréchet distance between Gaussian fits of (N, d) and (M, d) features; 0 for identical sets."""
    return frechet_distance(*gaussian_fit(a), *gaussian_fit(b))


def _poly_kernel(x: Tensor, y: Tensor) -> Tensor:
    return (x @ y.T / x.shape[1] + 1) ** 3


def mmd2_unbiased(x: Tensor, y: Tensor) -> float:
    """Unbiased MMD^2 of (m, d) and (n, d) samples with KID's cubic polynomial kernel."""
    x, y = x.to(torch.float64), y.to(torch.float64)
    m, n = len(x), len(y)
    kxx, kyy, kxy = _poly_kernel(x, x), _poly_kernel(y, y), _poly_kernel(x, y)
    xx = (kxx.sum() - kxx.diagonal().sum()) / (m * (m - 1))
    yy = (kyy.sum() - kyy.diagonal().sum()) / (n * (n - 1))
    return float(xx + yy - 2 * kxy.mean())


def kid(a: Tensor, b: Tensor, subsets: int = 50, subset_size: int = 500, seed: int = 0) -> dict[str, float]:
    """KID between (N, d) and (M, d) features over random subsets (without replacement within one).

    Returns:
        ``kid`` (mean over subsets), ``kid_std`` (their standard deviation),
        ``kid_se`` (std / sqrt(subsets)), ``kid_subsets``, ``kid_subset_size``; with fewer
        than 2 images on a side the scores are None and ``kid_skipped`` says why. When both
        sets are no larger than ``subset_size`` every subset is the same pair of sets: KID is
        computed once, its spread is None and ``kid_spread_skipped`` says why.
    """
    size = min(subset_size, len(a), len(b))
    if size < 2:  # the unbiased MMD^2 needs two samples a side
        return {"kid": None, "kid_std": None, "kid_se": None, "kid_subsets": subsets, "kid_subset_size": size,
                "kid_skipped": f"needs at least 2 images a side, got {len(a)} and {len(b)}"}
    if size == len(a) == len(b):  # every subset would be both sets whole: one value, and no spread to show
        return {"kid": mmd2_unbiased(a, b), "kid_std": None, "kid_se": None, "kid_subsets": 1,
                "kid_subset_size": size, "kid_spread_skipped": f"every subset of {size} is both sets whole, "
                "so KID is one value without a spread"}
    rng = torch.Generator().manual_seed(seed)
    values = torch.tensor([
        mmd2_unbiased(a[torch.randperm(len(a), generator=rng)[:size]], b[torch.randperm(len(b), generator=rng)[:size]])
        for _ in range(subsets)
    ], dtype=torch.float64)
    std = float(values.std()) if subsets > 1 else 0.0
    return {"kid": float(values.mean()), "kid_std": std, "kid_se": std / math.sqrt(subsets),
            "kid_subsets": subsets, "kid_subset_size": size}


# Bootstrap draws for the matched FD ratio's interval, and the sizes FD is extrapolated from.
RATIO_BOOTSTRAP = 2000
FD_INF_SIZES = 8


YARDSTICK_SPLITS = 200  # real-against-real splits behind the FD and class-share yardsticks, up to 256 features


def yardstick_splits(dim: int, fd_sets: int = 1) -> int:
    """Random real-against-real splits behind the yardsticks in ``dim`` features.

    One split's FD is far from their mean (on the digits at 400 images a side, 2.5 with a standard
    deviation of 0.85 and a long upper tail), so 20 splits left the mean uncertain by 8% and two
    evaluations of one generator apart by more than their intervals; 200 make it 2%. Each split costs an
    eigendecomposition in ``dim`` dimensions, so wider feature networks get fewer (at least 20: about
    25 for Inception's 2048 features).
    """
    return max(fd_sets, 20, min(YARDSTICK_SPLITS, YARDSTICK_SPLITS * 256 // max(dim, 1)))


def fd_yardstick(fake: Tensor, train: Tensor, reference: Tensor, n: int, seed: int = 0,
                 splits: int | None = None) -> dict[str, Any]:
    """FD of generated sets beside real-against-real FD at the same size over random splits, and their ratio.

    The generated images are cut into sets of n, however many there are (so scoring twice as many
    images gives twice the sets at the same n, not a larger n). Set r (``fake[r n:(r + 1) n]``) is
    compared with n reference images (all of them when there are n, else n at random). The yardstick
    is the mean FD between two disjoint random halves of n images of all the real ones (training and
    reference pooled) over ``splits`` splits: the same number of images on each side as G's
    comparison, so FD's bias for sample size is the same in the ratio's numerator and denominator, a
    larger pool of images does not move it, and its spread is that of a train / held-out split (one
    split's yardstick can be far from the average: 0.97 against 1.31-1.39).
    FD still grows with n for a generator that is not perfect (its bias shrinks, its distance does
    not): compare ratios at the same ``n_yardstick``, and read `fd_infinity` for a size-free estimate.

    The interval is the 2.5% and 97.5% points of the ratio of means over ``RATIO_BOOTSTRAP``
    resamplings of the generated sets and, independently, of the splits: it carries the generated sets'
    and the yardstick's uncertainty. It does not carry that of the reference images themselves, which
    every set, and every run on the same data, is compared with: with n of them (each set sees the same
    ones) two pools of reference images can give ratios apart by more than it. Bootstrap resamples of
    the reference images would overstate that noise several times on heavy-tailed features (on the
    digits, intervals of 0.5 to 1.9), so it is left out and said here.

    Args:
        fake: (sets * n, d) generated features (a remainder of fewer than n is left out); train: (N, d)
            and reference: (M, d) real ones,
            M >= n and N + M >= 2 n.
        n: images a side.
        seed: the draws' seed.
        splits: random splits of the real images (default: one per generated set).
    """
    sets = len(fake) // n
    splits = splits or sets
    # The splits have a stream of their own: the yardstick depends on the real images and n alone, not
    # on how many generated sets there are.
    rng, split_rng = (torch.Generator().manual_seed(int(s.generate_state(1, np.uint64)[0]) >> 1)
                      for s in np.random.SeedSequence(seed).spawn(2))
    pool = torch.cat([train, reference])
    fds, halves = torch.empty(sets, dtype=torch.float64), torch.empty(splits, dtype=torch.float64)
    for r in range(sets):
        ref = reference if len(reference) == n else reference[torch.randperm(len(reference), generator=rng)[:n]]
        fds[r] = feature_fd(fake[r * n:(r + 1) * n], ref)
    for r in range(splits):
        order = torch.randperm(len(pool), generator=split_rng)
        halves[r] = feature_fd(pool[order[:n]], pool[order[n:2 * n]])
    out: dict[str, Any] = {"n_yardstick": n, "yardstick_splits": splits,
                           "fd_yardstick": float(halves.mean()),
                           "fd_yardstick_std": float(halves.std()) if splits > 1 else None,
                           "fd_ratio_matched": None, "fd_ratio_matched_interval": None}
    if float(halves.mean()) > 0:
        pick_g = torch.randint(sets, (RATIO_BOOTSTRAP, sets), generator=rng)
        pick_r = torch.randint(splits, (RATIO_BOOTSTRAP, splits), generator=rng)
        boot = fds[pick_g].mean(1) / halves[pick_r].mean(1).clamp(min=torch.finfo(torch.float64).tiny)
        interval = torch.quantile(boot, torch.tensor([0.025, 0.975], dtype=torch.float64))
        out.update(fd_ratio_matched=float(fds.mean() / halves.mean()),
                   fd_ratio_matched_interval=[float(v) for v in interval])
    return out


def fd_infinity(a: Tensor, b: Tensor, seed: int = 0, sizes: int = FD_INF_SIZES, repeats: int = 10) -> dict[str, Any]:
    """FD extrapolated to infinitely many images a side (Chong and Forsyth, "Effectively Unbiased FID", 2020).

    FD of N images a side is, to first order, FD_inf + c / N. FD is computed at ``sizes`` values of N
    from a quarter of the smaller set to all of it (random subsets of both sides, ``repeats`` times each)
    and a line in 1 / N fitted; its intercept is FD_inf. For two sets from one distribution it is near 0
    where FD at any N is not.

    Returns:
        ``fd_inf``, ``fd_inf_se`` (the intercept's standard error from the fit's residuals), ``fd_inf_slope``
        (c) and ``fd_inf_sizes`` (the N's); None with fewer than 8 a side. With a few hundred images in
        a hundred features it is noisy (the fit reaches far beyond its sizes): read it with its se.
    """
    top = min(len(a), len(b))
    if top < 8:
        return {"fd_inf": None, "fd_inf_se": None, "fd_inf_slope": None, "fd_inf_sizes": []}
    rng = torch.Generator().manual_seed(seed)
    ns = sorted({int(round(v)) for v in torch.linspace(max(4, top // 4), top, sizes).tolist()})
    inv, values = [], []
    for size in ns:
        for _ in range(repeats if size < top or top < max(len(a), len(b)) else 1):
            pa = a if size == len(a) else a[torch.randperm(len(a), generator=rng)[:size]]
            pb = b if size == len(b) else b[torch.randperm(len(b), generator=rng)[:size]]
            inv.append(1.0 / size)
            values.append(feature_fd(pa, pb))
    x, y = torch.tensor(inv, dtype=torch.float64), torch.tensor(values, dtype=torch.float64)
    sxx = float(((x - x.mean()) ** 2).sum())
    slope = float(((x - x.mean()) * (y - y.mean())).sum()) / sxx
    intercept = float(y.mean()) - slope * float(x.mean())
    residual = float(((y - intercept - slope * x) ** 2).sum()) / max(1, len(x) - 2)
    se = math.sqrt(residual * (1 / len(x) + float(x.mean()) ** 2 / sxx))
    return {"fd_inf": intercept, "fd_inf_se": se, "fd_inf_slope": slope, "fd_inf_sizes": ns}


def weights_hash(net: nn.Module) -> str:
    """SHA-256 of a network's parameters and buffers (names, shapes, dtypes and bytes, in order):
    which feature network a score was computed in."""
    import hashlib

    digest = hashlib.sha256()
    for name, tensor in net.state_dict().items():
        t = tensor.detach().cpu().contiguous()
        digest.update(f"{name}:{tuple(t.shape)}:{t.dtype};".encode())
        digest.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return digest.hexdigest()


def few_images_note(n: int, n_reference: int, dim: int) -> dict[str, str]:
    """``{"fd_warning": ...}`` when a set has fewer images than features, else nothing.

    Its covariance then has rank below the dimension: FD stays real (the square root
    comes from a symmetric eigendecomposition, negative rounding clamped to 0), but it
    is ruled by the missing directions, far above what more images would give.
    """
    fewest = min(n, n_reference)
    if fewest >= dim:
        return {}
    return {"fd_warning": f"FD compares Gaussian fits of {n} generated and {n_reference} reference images in "
                          f"{dim} features: with fewer images than features the covariances are singular and FD "
                          f"is biased high; score at least {dim} images a side (quality.n, gankit eval --n)"}


def _radii(x: Tensor, k: int) -> Tensor:
    """Distance from each of (N, d) points to its k-th nearest other point: (N,)."""
    dist = torch.cdist(x, x)  # (N, N), zeros on the diagonal
    return dist.kthvalue(k + 1, dim=1).values


def precision_recall(*, real: Tensor, generated: Tensor, k: int = 3) -> dict[str, float]:
    """Improved precision (generated images on the real manifold) and recall (real ones on the
    generated manifold). By keyword only: swapped, precision and recall swap too.

    Args:
        real: (N, d) features; generated: (M, d) features; k: the neighbourhood size (3 in the paper).

    Returns:
        ``precision``, ``recall`` and ``pr_k``, the k used: at most N - 1 and M - 1 (a tiny set
        has fewer neighbours); with fewer than 2 on a side the scores are None and
        ``pr_skipped`` says why.
    """
    fake = generated
    k = min(k, len(real) - 1, len(fake) - 1)
    if k < 1:
        return {"precision": None, "recall": None, "pr_k": None,
                "pr_skipped": f"needs at least 2 images a side, got {len(real)} real and {len(fake)} generated"}
    real, fake = real.to(torch.float64), fake.to(torch.float64)
    r_real, r_fake = _radii(real, k), _radii(fake, k)
    dist = torch.cdist(fake, real)  # (M, N)
    precision = (dist <= r_real[None, :]).any(1).double().mean()
    recall = (dist <= r_fake[:, None]).any(0).double().mean()
    return {"precision": float(precision), "recall": float(recall), "pr_k": k}


def class_fractions(predicted: Tensor, n_classes: int) -> list[float]:
    """Share of (N,) predicted classes falling in each of ``n_classes`` classes."""
    counts = torch.bincount(predicted, minlength=n_classes).double()
    return (counts / counts.sum()).tolist()


def class_share_yardstick(p_fake: Tensor, n: int, sets: int, p_real: Tensor, y_real: Tensor,
                          ref_labels: Tensor, n_classes: int, seed: int, splits: int | None = None) -> dict[str, Any]:
    """How far class shares lie from the real ones, for G's sets and for real images of the same size.

    The distance is the total variation between the classifier's predicted shares of a set and the true
    shares of the real held-out images (``ref_labels``), for each of the ``sets`` generated sets of ``n``.
    Its yardstick draws two disjoint halves of ``n`` from the real images (``p_real`` their predicted and
    ``y_real`` their true classes: training and held-out pooled), anew for each of ``splits`` (default: as
    many as the generated sets): the
    predicted shares of one half against the true shares of the other. So the yardstick carries what real
    images of this number show too: the classifier's errors and the sampling noise of n images (a
    handful of points at n = 50, under one at n = 1000). Fewer than 2n real images: n is cut to half.
    """
    def shares(labels: Tensor) -> Tensor:
        return torch.tensor(class_fractions(labels, n_classes), dtype=torch.float64)

    splits = splits or sets
    truth = shares(ref_labels)
    tv = lambda a, b: float(0.5 * (a - b).abs().sum())  # noqa: E731
    generated = torch.stack([shares(p_fake[i * n:(i + 1) * n]) for i in range(sets)])
    gaps = torch.tensor([tv(g, truth) for g in generated], dtype=torch.float64)
    half = min(n, len(p_real) // 2)
    out: dict[str, Any] = {
        "class_shares_tv": float(gaps.mean()), "class_shares_tv_std": float(gaps.std()) if sets > 1 else None,
        "class_fractions_std": generated.std(0).tolist() if sets > 1 else None,
        "n_class_shares_real_halves": half, "class_shares_real_halves_splits": splits,
    }
    if half < 1:
        return out
    rng = torch.Generator().manual_seed(seed)
    real_gaps, real_shares = [], []
    for _ in range(splits):
        order = torch.randperm(len(p_real), generator=rng)
        a, b = order[:half], order[half:2 * half]
        real_shares.append(shares(p_real[a]))
        real_gaps.append(tv(real_shares[-1], shares(y_real[b])))
    real_gaps, real_shares = torch.tensor(real_gaps, dtype=torch.float64), torch.stack(real_shares)
    out.update(class_shares_tv_real_halves=float(real_gaps.mean()),
               class_shares_tv_real_halves_std=float(real_gaps.std()) if splits > 1 else None,
               class_fractions_real_halves=real_shares.mean(0).tolist(),
               class_fractions_real_halves_std=real_shares.std(0).tolist() if splits > 1 else None)
    return out


@torch.no_grad()
def generate(G: nn.Module, n: int, latent_dim: int, seed: int = 0, n_classes: int = 0,
             batch_size: int = 500) -> Tensor:
    """(n, C, H, W) images from G in eval mode, z from ``seed``; balanced labels for a conditional G."""
    was_training = G.training
    G.eval()
    rng = torch.Generator().manual_seed(seed)
    z = torch.randn(n, latent_dim, generator=rng)
    labels = torch.arange(n) % n_classes if n_classes else None
    device = device_of(G)
    z = z.to(device)
    labels = labels.to(device) if labels is not None else None
    out = torch.cat([G(z[s:s + batch_size], *(() if labels is None else (labels[s:s + batch_size],))).cpu()
                     for s in range(0, n, batch_size)])
    G.train(was_training)
    return out.clamp(-1, 1)


def evaluate_images(G: nn.Module, dataset, latent_dim: int, n: int = 0, seed: int = 0,
                    n_classes: int = 0, cache_dir: str | None = None, kid_subsets: int = 50,
                    kid_subset_size: int = 500, fd_sets: int = 5, features: nn.Module | None = None,
                    batch_size: int = 500, classifiers: int = 3, n_yardstick: int = 400) -> dict[str, Any]:
    """Feature-space quality of generator ``G`` on an image `Dataset`.

    Generated images are compared with ``dataset.heldout`` (or the training
    images when there is no held-out split) in the space of ``features``: by
    default the penultimate layer of gankit's classifier, trained on
    ``dataset.train`` (cached); or any network you pass, as torchmetrics' FID
    takes ``feature=`` (e.g. Inception-v3's pool features: docs/tutorials/first-image-gan.md).
    The real-halves baseline compares the training images with the held-out
    ones; the noise baseline, uniform noise in [-1, 1].

    FD is biased by sample size, so each generated set has as many images as
    the reference set by default, like the real halves. One set of a few
    hundred images gives a noisy FD, and so does one classifier: on the
    digits, the ratio to the real halves moved by about 0.3 between generated
    sets and 0.15 between classifier seeds (docs/tutorials/first-image-gan.md). So in gankit's
    own space, FD and its ratio are measured in the features of
    ``classifiers`` classifiers trained with seeds 0, 1, ... on the same
    images, each over ``fd_sets`` independent generated sets: ``fd``,
    ``fd_real_halves`` and ``fd_noise`` are means over the classifiers,
    ``fd_ratio`` the mean of their ratios, ``fd_ratio_interval`` the 2.5% and
    97.5% points of the single (classifier, set) ratios and ``fd_ratio_se``
    the standard error of ``fd_ratio``. KID and the class shares use the
    first classifier and all the sets; precision and recall the first
    classifier and the first set. Class shares and the label check need
    classes: they always come from gankit's classifier (trained only when the
    data have labels or no ``features`` are given).

    Args:
        G: the generator (its EMA copy when there is one).
        dataset: with ``train`` (N, C, H, W), ``heldout``, ``labels``.
        latent_dim: G's noise size.
        n: images per generated set (0: as many as the reference set).
        fd_sets: generated sets FD is averaged over.
        seed: the run's seed; generated images, the noise baseline and KID's subsets come from its
            named streams (`gankit.streams`).
        n_classes: > 0 for a conditional G (balanced labels).
        features: a network mapping (B, C, H, W) images in [-1, 1] to (B, d) features (or
            (B, d, 1, 1)); used in eval mode without gradients. None: gankit's classifier.
        batch_size: images per call of ``features``.
        classifiers: gankit's classifiers FD is averaged over (ignored with ``features``).
        n_yardstick: images a side of the size-matched ratio ``fd_ratio_matched`` (`fd_yardstick`), the
            headline: all ``fd_sets * n`` generated images are cut into sets of this size, so the ratio
            does not drift when more images are scored. 0, or more than ``n`` or the real images allow:
            the largest size that fits, recorded with ``n_yardstick_asked`` and a ``n_yardstick_note``.

    Returns:
        A JSON-ready dict: scores, baselines and every sample size.
    """
    from gankit.data.memory import quality_parts, require

    classifier = cached = None
    if features is None or dataset.labels is not None:
        classifier, cached = load_or_train_classifier(dataset.train, dataset.labels, cache_dir)
    reference = dataset.heldout if dataset.heldout is not None else dataset.train
    ref_labels = dataset.heldout_labels if dataset.heldout is not None else dataset.labels
    n = n or len(reference)
    require(quality_parts(n, fd_sets, len(reference), len(dataset.train), dataset.shape, kid_subset_size,
                          "lower --n (gankit eval) or quality.n / quality.fd_sets"),
            f"{dataset.source}: quality scores of {fd_sets} sets of {n} generated images")
    fake = generate(G, n * fd_sets, latent_dim, streams.seed(seed, "quality.fake"), n_classes)  # (fd_sets * n, C, H, W)
    noise = torch.rand((len(reference), *reference.shape[1:]), generator=streams.generator(seed, "quality.noise")) * 2 - 1
    # Feature spaces: gankit's classifiers (the first, seed 0, is `classifier`), or the user's network.
    if features is None:
        others = [load_or_train_classifier(dataset.train, dataset.labels, cache_dir, seed=c)[0]
                  for c in range(1, classifiers)]
        embeds = [lambda x, net=net: extract(net, x)[0] for net in (classifier, *others)]
        # one pass gives the first classifier's features and its classes
        (f_ref, p_ref), (f_fake, p_fake) = extract(classifier, reference), extract(classifier, fake)
        space = "classifier" if dataset.labels is not None else "rotation-classifier"
    else:
        embeds = [lambda x: embed_images(features, x, batch_size)]
        f_ref, f_fake = embeds[0](reference), embeds[0](fake)
        space = getattr(features, "name", None) or type(features).__name__
    images = {"reference": reference, "fake": fake, "noise": noise}
    first = {"reference": f_ref, "fake": f_fake}
    network = features if features is not None else classifier
    p_train = None  # the classifier's classes of the training images, when one pass gives them
    if dataset.heldout is not None:
        images["train"] = dataset.train
        if features is None:
            first["train"], p_train = extract(classifier, dataset.train)
        else:
            first["train"] = embeds[0](dataset.train)
    real_splits = yardstick_splits(int(f_ref.shape[1]), fd_sets)  # real-against-real splits: FD, class shares
    # Precision and recall of real halves vary far less (sd 0.01 on the digits) and cost a k-NN search a
    # draw: 20 draws pin their mean to 0.003.
    pr_draws = max(fd_sets, 20)
    out: dict[str, Any] = {
        "feature_space": space,
        "feature_dim": int(f_ref.shape[1]),
        "feature_weights_sha256": weights_hash(network),
        "feature_input_shape": list(reference.shape[1:]),
        "feature_input_dtype": str(reference.dtype).removeprefix("torch."),
        "classifier_cached": cached,
        "reference": "heldout" if dataset.heldout is not None else "train",
        "n_generated": n,
        "n_reference": len(reference),
        "n_train": len(dataset.train),
        **_fd_scores(embeds, first, images, n, fd_sets),
        **few_images_note(n, len(reference), int(f_ref.shape[1])),
        **kid(f_fake, f_ref, kid_subsets, kid_subset_size, streams.seed(seed, "quality.kid")),
        "n_kid_generated": len(f_fake),
        **precision_recall(real=f_ref, generated=f_fake[:n]),
        "n_noise": len(noise),
    }
    if fd_sets > 1 and n >= 4:  # precision and recall of every generated set, for their spread
        sets = [precision_recall(real=f_ref, generated=f_fake[i * n:(i + 1) * n]) for i in range(fd_sets)]
        out.update(precision_std=float(torch.tensor([p["precision"] for p in sets], dtype=torch.float64).std()),
                   recall_std=float(torch.tensor([p["recall"] for p in sets], dtype=torch.float64).std()))
    if dataset.heldout is not None:
        # Real against real at the generated comparison's sizes, over as many random splits as there are
        # generated sets: two disjoint halves of n of all real images (training and reference pooled) in the
        # places of the reference and G's set; with too few for that, n training images against the reference.
        rng = streams.generator(seed, "quality.halves")
        pool = torch.cat([first["train"], f_ref])

        def real_pair() -> dict[str, Any]:
            if len(pool) >= 2 * n:
                order = torch.randperm(len(pool), generator=rng)
                return precision_recall(real=pool[order[:n]], generated=pool[order[n:2 * n]])
            return precision_recall(real=f_ref,
                                    generated=first["train"][torch.randperm(len(dataset.train), generator=rng)[:n]])

        draws = [real_pair() for _ in range(pr_draws)]
        for key in ("precision", "recall"):
            values = [d[key] for d in draws]
            if None in values:
                out.update({f"{key}_real_halves": None, f"{key}_real_halves_std": None})
                continue
            values = torch.tensor(values, dtype=torch.float64)
            out[f"{key}_real_halves"] = float(values.mean())
            out[f"{key}_real_halves_std"] = float(values.std())
        out.update(n_pr_real_halves=min(n, len(dataset.train)), pr_real_halves_draws=pr_draws)
        asked = n_yardstick or n
        at = min(asked, n, len(reference), (len(dataset.train) + len(reference)) // 2)
        if at >= 2:
            out.update(fd_yardstick(f_fake, first["train"], f_ref, at, streams.seed(seed, "quality.yardstick"),
                                    splits=real_splits))
            if at < asked:
                out.update(n_yardstick_asked=asked,
                           n_yardstick_note=f"the size-matched ratio is at {at} images a side, not the "
                                            f"{asked} asked (quality.n_yardstick): {n} generated per "
                                            f"set, {len(reference)} reference and {len(dataset.train)} "
                                            f"training images; compare it only with ratios at {at}")
        if n >= 2 and len(dataset.train) + len(reference) >= 2 * n and len(reference) >= n:
            out.update(fd_infinity(f_fake, f_ref, streams.seed(seed, "quality.fd_inf")))
            halves_inf = fd_infinity(first["train"], f_ref, streams.seed(seed, "quality.fd_inf"))
            out.update(fd_inf_real_halves=halves_inf["fd_inf"], fd_inf_real_halves_se=halves_inf["fd_inf_se"])
        halves = kid(first["train"], f_ref, kid_subsets, kid_subset_size, streams.seed(seed, "quality.kid"))
        out.update(kid_real_halves=halves["kid"], kid_real_halves_se=halves["kid_se"])
        if "kid_spread_skipped" in halves:
            out["kid_real_halves_spread_skipped"] = halves["kid_spread_skipped"]
    if dataset.labels is not None:
        if features is not None:
            p_ref, p_fake = extract(classifier, reference)[1], extract(classifier, fake)[1]
        k = max(len(dataset.classes), int(dataset.labels.max()) + 1)
        out["classes"] = list(dataset.classes)
        out["class_fractions"] = class_fractions(p_fake, k)  # over all fd_sets * n images
        out["n_class_fractions"] = len(p_fake)
        out["min_class_fraction"] = min(out["class_fractions"])
        if ref_labels is not None:
            right = (p_ref == ref_labels).double()
            out["classifier_accuracy"] = float(right.mean())
            present = all(bool((ref_labels == c).any()) for c in range(k))  # else no per-class yardstick
            out["classifier_accuracy_by_class"] = [float(right[ref_labels == c].mean()) for c in range(k)] \
                if present else None
            out["reference_class_fractions"] = class_fractions(ref_labels, k)
            if dataset.heldout is not None and n >= 1:
                if p_train is None:  # a feature network of the user's: the classifier's own pass
                    p_train = extract(classifier, dataset.train)[1]
                out.update(class_share_yardstick(
                    p_fake, n, fd_sets, torch.cat([p_train, p_ref]), torch.cat([dataset.labels, ref_labels]),
                    ref_labels, k, streams.seed(seed, "quality.class_halves"), splits=real_splits))
        if n_classes:  # a conditional G drew image i for class i % n_classes (see `generate`)
            out.update(label_accuracy(p_fake, n_classes))
    return out


def _fd_scores(embeds: list, first: dict[str, Tensor], images: dict[str, Tensor], n: int,
               fd_sets: int) -> dict[str, Any]:
    """FD of each generated set, of the real halves and of noise, in each feature space of ``embeds``, averaged.

    ``images`` holds the ``reference``, ``fake`` (``fd_sets`` sets of ``n``), ``noise`` and, when
    there is a held-out split, ``train`` images; ``first`` their features in the first space,
    those already computed. Without ``train`` there are no real halves and no ratio.
    """
    k, reference = len(embeds), images["reference"]
    halved = "train" in images
    out: dict[str, Any] = {"fd_sets": fd_sets, "fd_feature_spaces": k, "fd": None, "fd_std": None,
                           "fd_noise": None, **({"fd_real_halves": None, "fd_ratio": None} if halved else {})}
    if min(n, len(reference)) < 2:  # a Gaussian fit needs two images a side
        out["fd_skipped"] = f"needs at least 2 images a side, got {n} generated and {len(reference)} reference"
    if len(reference) < 2:
        return out
    fds = torch.empty(k, fd_sets, dtype=torch.float64)
    halves, noise = torch.empty(k, dtype=torch.float64), torch.empty(k, dtype=torch.float64)
    for c, embed in enumerate(embeds):
        feats = {name: first[name] if c == 0 and name in first else embed(x) for name, x in images.items()}
        if n >= 2:
            fds[c] = torch.tensor([feature_fd(feats["fake"][i * n:(i + 1) * n], feats["reference"])
                                   for i in range(fd_sets)])
        noise[c] = feature_fd(feats["noise"], feats["reference"])
        if halved:
            halves[c] = feature_fd(feats["train"], feats["reference"])
    out["fd_noise"] = float(noise.mean())
    if halved:
        out["fd_real_halves"] = float(halves.mean())
    if n < 2:
        return out
    out.update(fd=float(fds.mean()), fd_std=float(fds.std(1).mean()) if fd_sets > 1 else 0.0)
    if halved and bool((halves > 0).all()):
        single = fds / halves[:, None]  # one ratio per feature space and generated set
        per_space = single.mean(1)
        se = per_space.std() / math.sqrt(k) if k > 1 else single.std() / math.sqrt(fd_sets) if fd_sets > 1 else 0.0
        interval = torch.quantile(single.flatten(), torch.tensor([0.025, 0.975], dtype=torch.float64))
        out.update(fd_ratio=float(per_space.mean()), fd_ratio_se=float(se),
                   fd_ratio_interval=[float(v) for v in interval])
    return out


@torch.no_grad()
def embed_images(features: nn.Module, images: Tensor, batch_size: int = 500) -> Tensor:
    """(N, d) float64 features of (N, C, H, W) images by ``features`` in eval mode (its mode is restored)."""
    was_training = features.training
    features.eval()
    try:
        out = torch.cat([features(images[s:s + batch_size]).flatten(1).to(torch.float64)
                         for s in range(0, len(images), batch_size)])
    finally:
        features.train(was_training)
    if out.dim() != 2 or not torch.isfinite(out).all():
        from gankit.errors import UserError

        raise UserError(f"the feature network gave {'non-finite values' if out.dim() == 2 else tuple(out.shape)}; "
                        "it must map (B, C, H, W) images to finite (B, d) features")
    return out


def label_accuracy(predicted: Tensor, n_classes: int) -> dict[str, Any]:
    """How often a conditional G's images are the class they were drawn for, by the classifier.

    Args:
        predicted: (N,) classes the classifier gives images drawn for labels ``arange(N) % n_classes``.

    Returns:
        ``label_accuracy`` (over all), ``label_accuracy_by_class`` (per label), ``n_label_accuracy``.
    """
    drawn = torch.arange(len(predicted)) % n_classes
    hits = (predicted == drawn).double()
    return {"label_accuracy": float(hits.mean()),
            "label_accuracy_by_class": [float(hits[drawn == c].mean()) for c in range(n_classes)],
            "n_label_accuracy": len(predicted)}


def evaluate_run(run_dir, n: int | None = None, seed: int | None = None,
                 features: nn.Module | None = None, n_yardstick: int | None = None) -> dict[str, Any]:
    """`evaluate_images` for a saved image run, from its directory alone.

    Rebuilds the run's data (the same held-out split: it is the first draw of
    the run's seed) and loads ``generator_ema.safetensors`` when present, else
    ``generator.safetensors``. ``n``, ``seed`` and ``n_yardstick`` default to the run's
    ``quality.n``, ``train.seed`` and ``quality.n_yardstick``, which reproduces its summary's scores
    (with ``features`` None: gankit's classifier; see `evaluate_images`).
    """
    from pathlib import Path

    from gankit.data import make_dataset
    from gankit.errors import UserError
    from gankit.files import the_generator

    if n is not None and n < MIN_EVAL_IMAGES:
        raise UserError(f"--n must be at least {MIN_EVAL_IMAGES} for an image run (precision and recall take "
                        f"each image's 3 nearest neighbours), got {n}")
    if seed is not None and seed < 0:
        raise UserError(f"--seed must be non-negative, got {seed}")
    if n_yardstick is not None and n_yardstick < 0:
        raise UserError(f"--n-yardstick must be non-negative, got {n_yardstick}")
    run_dir = Path(run_dir)
    config, G, role = the_generator(run_dir)
    dataset = make_dataset(config.data, torch.Generator().manual_seed(config.train.seed), config.train.seed)
    if len(dataset.shape) != 3:
        raise UserError(f"{run_dir}: not an image run (data shape {dataset.shape})")
    m, q = config.model, config.quality
    scores = evaluate_images(G, dataset, m.latent_dim, n=q.n if n is None else n,
                             seed=config.train.seed if seed is None else seed,
                             n_classes=m.n_classes if m.conditional else 0, cache_dir=q.cache_dir or None,
                             kid_subsets=q.kid_subsets, kid_subset_size=q.kid_subset_size, fd_sets=q.fd_sets,
                             features=features, classifiers=q.classifiers,
                             n_yardstick=q.n_yardstick if n_yardstick is None else n_yardstick)
    return {"generator": role, **scores}


def format_quality(q: dict[str, Any]) -> str:
    """A few lines for the console: the scores beside their baselines and sample sizes.

    A score skipped for a tiny set shows as ``-`` with the recorded reason.
    """
    def num(key: str, digits: int) -> str:
        return "-" if q.get(key) is None else f"{q[key]:.{digits}f}"

    lines = [f"feature space: {q['feature_space']} ({q['feature_dim']} features), "
             f"{q['n_generated']} generated vs {q['n_reference']} {q['reference']} images"]
    spaces = q.get("fd_feature_spaces", 1)
    fd = (f"FD {num('fd', 2)} +- {num('fd_std', 2)} (mean, sd of {q['fd_sets']} generated sets"
          + (f" x {spaces} classifiers)" if spaces > 1 else ")"))
    if q.get("fd_real_halves") is not None:
        fd += f"  (real halves {num('fd_real_halves', 2)}, ratio {num('fd_ratio', 2)}"
        if q.get("fd_ratio_interval"):
            lo, hi = q["fd_ratio_interval"]
            fd += f" +- {num('fd_ratio_se', 2)}, single sets {lo:.2f} to {hi:.2f}"
        fd += f"; noise {num('fd_noise', 1)})"
    lines.append(fd + (f"  skipped: {q['fd_skipped']}" if "fd_skipped" in q else ""))
    if q.get("fd_ratio_matched") is not None:
        lo, hi = q["fd_ratio_matched_interval"]
        lines.append(f"FD ratio at {q['n_yardstick']} images a side {q['fd_ratio_matched']:.2f} (95% {lo:.2f} to "
                     f"{hi:.2f}; yardstick FD {num('fd_yardstick', 2)} +- {num('fd_yardstick_std', 2)} over "
                     f"{q['yardstick_splits']} splits)  FD-infinity {num('fd_inf', 2)} +- {num('fd_inf_se', 2)} "
                     f"(real halves {num('fd_inf_real_halves', 2)} +- {num('fd_inf_real_halves_se', 2)})")
    if q.get("n_yardstick_note"):
        lines.append(f"note: {q['n_yardstick_note']}")
    if q.get("fd_warning"):
        lines.append(f"warning: {q['fd_warning']}")
    spread = (f" +- {num('kid_se', 4)} ({q['kid_subsets']} subsets of {q['kid_subset_size']})"
              if q.get("kid_se") is not None else f" ({q['kid_subset_size']} images a side, no spread: all of both)")
    lines.append(f"KID {num('kid', 4)}" + spread
                 + (f"  (real halves {num('kid_real_halves', 4)}"
                    + (f" +- {num('kid_real_halves_se', 4)})" if q.get("kid_real_halves_se") is not None else ")")
                    if "kid_real_halves" in q else "")
                 + (f"  skipped: {q['kid_skipped']}" if "kid_skipped" in q else ""))
    lines.append(f"precision {num('precision', 3)}, recall {num('recall', 3)} (k={q['pr_k']})"
                 + (f"  (real halves {num('precision_real_halves', 3)}, {num('recall_real_halves', 3)}"
                    + (f" +- {num('recall_real_halves_std', 3)}" if q.get("recall_real_halves_std") is not None
                       else "") + ")"
                    if "recall_real_halves" in q else "")
                 + (f"  skipped: {q['pr_skipped']}" if "pr_skipped" in q else ""))
    if "class_fractions" in q:
        names = q.get("classes") or []
        shares = ", ".join(f"{names[i] if i < len(names) else i} {100 * f:.1f}"
                           for i, f in enumerate(q["class_fractions"]))
        lines.append(f"generated class shares %: {shares}  (min {100 * q['min_class_fraction']:.1f}%)")
        if q.get("class_shares_tv") is not None:
            spread = lambda key: f" +- {q[key]:.3f}" if q.get(key) is not None else ""  # noqa: E731
            line = f"class shares: total variation to the real ones {q['class_shares_tv']:.3f}{spread('class_shares_tv_std')}"
            if q.get("class_shares_tv_real_halves") is not None:
                line += (f"  (real halves {q['class_shares_tv_real_halves']:.3f}"
                         f"{spread('class_shares_tv_real_halves_std')}, {q['n_class_shares_real_halves']} images)")
            lines.append(line)
    if "label_accuracy" in q:
        lines.append(f"label check: {100 * q['label_accuracy']:.1f}% of the samples are the class they were drawn "
                     f"for (the classifier on real held-out images: {100 * q.get('classifier_accuracy', 0):.1f}%)")
    return "\n".join(lines)


__all__ = ["class_fractions", "class_share_yardstick", "embed_images", "evaluate_images", "few_images_note", "weights_hash", "label_accuracy", "evaluate_run", "feature_fd", "format_quality", "generate", "kid",
           "mmd2_unbiased", "precision_recall"]
