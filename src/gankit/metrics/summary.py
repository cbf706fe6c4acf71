"""What the generator learned, measured against the truth and against the MLE.

For a Gaussian target we know N(b, A^T A) exactly, so the generator's own
Gaussian (exact for an affine generator) is compared with it in closed form,
beside the maximum-likelihood fit of the training points: the best any
estimator could be expected to do from the same data.
"""

from __future__ import annotations

import math
from typing import Any

from gankit import streams
from gankit.metrics.gaussian import frechet_distance, gaussian_fit, generator_gaussian, kl_gaussians
from gankit.runs.platform import platform_facts


def summarize(state, examples_per_sec: float) -> dict[str, Any]:
    """The run's ``summary.json`` contents (docs/reference/run-directory.md lists every key).

    What G learned is measured on the run's generator: ``G_ema`` where the run
    keeps one (then ``sampled_from`` says so), else G.
    """
    if len(state.dataset.shape) == 3:
        return summarize_images(state, examples_per_sec)
    cfg = state.config
    G = state.G_ema if state.G_ema is not None else state.G
    was_training = G.training
    G.eval()
    gen_mean, gen_cov, exact = generator_gaussian(G, cfg.model.latent_dim, seed=streams.seed(cfg.train.seed, "summary.fit"))
    G.train(was_training)
    mle_mean, mle_cov = gaussian_fit(state.dataset.train)
    summary: dict[str, Any] = {
        **_run_facts(state, examples_per_sec),
        **({"sampled_from": "G_ema"} if state.G_ema is not None else {}),
        "generated_mean": gen_mean.tolist(),
        "generated_cov": gen_cov.tolist(),
        "generated_exact": exact,
        "mle_mean": mle_mean.tolist(),
        "mle_cov": mle_cov.tolist(),
        "true_mean": None,
        "true_cov": None,
        "fd_to_truth": None,
        "kl_to_truth": None,
        "mle_fd_to_truth": None,
        "mle_kl_to_truth": None,
        # With no known truth, the generator is compared with the data's own fit.
        "fd_to_data_fit": frechet_distance(gen_mean, gen_cov, mle_mean, mle_cov),
    }
    target = state.dataset.target
    if target is not None and hasattr(target, "cov"):
        true_mean, true_cov = target.mean, target.cov
        summary.update(
            true_mean=true_mean.tolist(),
            true_cov=true_cov.tolist(),
            fd_to_truth=frechet_distance(gen_mean, gen_cov, true_mean, true_cov),
            kl_to_truth=_finite(kl_gaussians(true_mean, true_cov, gen_mean, gen_cov)),
            mle_fd_to_truth=frechet_distance(mle_mean, mle_cov, true_mean, true_cov),
            mle_kl_to_truth=_finite(kl_gaussians(true_mean, true_cov, mle_mean, mle_cov)),
        )
    return summary


def summarize_images(state, examples_per_sec: float) -> dict[str, Any]:
    """An image run's summary: losses, speed, and feature-space quality under ``quality``.

    Quality is measured on ``G_ema`` when the run keeps one, else on G.
    """
    from gankit.metrics.images import evaluate_images

    cfg = state.config
    G = state.G_ema if state.G_ema is not None else state.G
    quality = evaluate_images(
        G, state.dataset, cfg.model.latent_dim, n=cfg.quality.n, seed=cfg.train.seed,
        n_classes=cfg.model.n_classes if cfg.model.conditional else 0, cache_dir=cfg.quality.cache_dir or None,
        kid_subsets=cfg.quality.kid_subsets, kid_subset_size=cfg.quality.kid_subset_size,
        fd_sets=cfg.quality.fd_sets, classifiers=cfg.quality.classifiers, n_yardstick=cfg.quality.n_yardstick)
    return {
        **_run_facts(state, examples_per_sec),
        "n_heldout": int(state.dataset.heldout.shape[0]) if state.dataset.heldout is not None else 0,
        "classes": list(state.dataset.classes),
        "sampled_from": "G_ema" if state.G_ema is not None else "G",
        "quality": quality,
    }


def _run_facts(state, examples_per_sec: float) -> dict[str, Any]:
    """What every summary opens with: final losses, speed, seed and counts."""
    last = state.history[-1] if state.history else {}
    return {
        "loss_d": last.get("loss_d"),
        "loss_g": last.get("loss_g"),
        "examples_per_sec": examples_per_sec,
        "train_seconds": state.train_seconds,
        "seed": state.config.train.seed,
        "epochs": state.epoch,
        "steps": state.step,
        "data": state.dataset.source,
        "n_train": int(state.dataset.train.shape[0]),
        # Where and how it ran (the engine is added by `train`).
        "device": str(state.device),
        "precision": state.config.train.precision,
        "compile": state.config.train.compile,
        # The software and kernels the float32 numbers depend on (see gankit.runs.platform).
        "platform": platform_facts(str(state.device)),
        **({"resumed_from_platform": state.resumed_from_platform} if state.resumed_from_platform else {}),
    }


def _finite(value: float) -> float | None:
    """JSON has no infinity: a singular fit's KL is recorded as null."""
    return value if math.isfinite(value) else None


def format_table(summary: dict[str, Any]) -> str:
    """A small plain-text table: the generator, the MLE and the truth side by side."""

    def fmt_vec(v):
        return "[" + ", ".join(f"{x:7.3f}" for x in v) + "]" if v is not None else "-"

    def fmt_cov(c):
        return "[" + "; ".join(", ".join(f"{x:.3f}" for x in row) for row in c) + "]" if c is not None else "-"

    def fmt_num(x):
        return "-" if x is None else f"{x:.4f}"

    gen_label = "generator" + ("" if summary.get("generated_exact") else " (sampled)")
    rows = [
        ("", "mean", "covariance", "FD to truth", "KL(true||fit)"),
        (gen_label, fmt_vec(summary["generated_mean"]), fmt_cov(summary["generated_cov"]),
         fmt_num(summary["fd_to_truth"]), fmt_num(summary["kl_to_truth"])),
        ("MLE of data", fmt_vec(summary["mle_mean"]), fmt_cov(summary["mle_cov"]),
         fmt_num(summary["mle_fd_to_truth"]), fmt_num(summary["mle_kl_to_truth"])),
    ]
    if summary["true_mean"] is not None:
        rows.append(("truth", fmt_vec(summary["true_mean"]), fmt_cov(summary["true_cov"]), "0", "0"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
    if summary["true_mean"] is None:
        lines.append(f"no known truth; FD of generator to the data's Gaussian fit: {summary['fd_to_data_fit']:.4f}")
    return "\n".join(lines)
