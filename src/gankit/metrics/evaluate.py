"""Is the generator any good? Every two-sample test and diagnostic, from a saved run.

`evaluate_run` needs only the run directory (its config and weights). It
draws N generated points and N real points the generator never trained on:
fresh from the known target (on seeds derived from ``seed``, never the
training stream), or the held-out split of a data file (rebuilt from the
run's config and seed, exactly as training split it). Then:

- two-sample tests: MMD, energy, classifier, and the trained discriminator's
  own accuracy (if the run has its weights);
- Gaussian diagnostics: FD and KL(truth || fit) of the generated sample's
  Gaussian fit, beside the maximum-likelihood fit of a real sample of the
  same size (the yardstick: what N real points achieve);
- mode metrics for mixture targets, for the generated and the real sample.

The verdict uses Bonferroni over the tests: the samples are called
different when some p-value is at most alpha / (number of tests).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch

from gankit import streams
from gankit.data import TARGETS, make_dataset
from gankit.data.memory import DOUBLE, FLOAT, require
from gankit.errors import UserError
from gankit.runs.platform import platform_facts
from gankit.metrics.gaussian import frechet_distance, gaussian_fit, exact_gaussian, kl_gaussians
from gankit.metrics.modes import mode_metrics
from gankit.metrics.twosample import all_tests, discriminator_test
from gankit.files import GENERATOR_NAMES, load_network, load_run_config, the_generator, write_json

@torch.no_grad()
def check_test_settings(alpha: float, seed: int, permutations: int) -> None:
    """The settings shared by ``gankit eval`` and ``gankit twosample``; a `UserError` names a bad one."""
    if not 0 < alpha < 1:
        raise UserError(f"--alpha must be in (0, 1), got {alpha}")
    if seed < 0:
        raise UserError(f"--seed must be non-negative, got {seed}")
    if permutations < 1:
        raise UserError(f"--permutations must be at least 1, got {permutations}")


def evaluate_run(run_dir: str | Path, n: int = 1000, alpha: float = 0.05, seed: int = 0,
                 permutations: int = 999) -> dict[str, Any]:
    """Test a saved run's generator against real points it never trained on.

    Args:
        run_dir: the run directory.
        n: generated points, and real points (fewer if a held-out split is smaller).
        alpha: the level of the tests.
        seed: seeds the fresh real points, the generated points and the tests.
        permutations: B for the permutation tests.

    Returns:
        The report (also what ``eval.json`` holds): ``tests``, ``gaussian``,
        ``modes``, ``verdict`` and the settings.
    """
    if n < 4:
        raise UserError(f"--n must be at least 4, got {n}")
    check_test_settings(alpha, seed, permutations)
    run_dir = Path(run_dir)
    config = load_run_config(run_dir)
    _, G, role = the_generator(run_dir)
    D = load_network(run_dir, "discriminator")[1] if (run_dir / "discriminator.safetensors").is_file() else None
    _check_memory(run_dir, n, config.model.latent_dim, G(torch.zeros(1, config.model.latent_dim)).shape[1])

    real, reference, target, real_source = _real_points(config, n, seed)
    n = real.shape[0]
    z = torch.randn(n, config.model.latent_dim, generator=streams.generator(seed, "eval.fake"))  # (n, latent)
    fake = G(z)  # (n, d)
    if fake.shape[1] != real.shape[1]:
        raise UserError(f"{run_dir}: generator makes {fake.shape[1]}-D points but the data is {real.shape[1]}-D")

    generator = streams.generator(seed, "eval.tests")
    tests = all_tests(real, fake, permutations=permutations, generator=generator)
    if D is not None:
        tests.append(discriminator_test(D, real, fake))
    level = alpha / len(tests)
    different = [t for t in tests if t.p_value <= level]
    report = {
        "run": str(run_dir),
        "generator": role,
        "n_generated": int(fake.shape[0]),
        "n_real": int(real.shape[0]),
        "real_source": real_source,
        "alpha": alpha,
        "bonferroni_level": level,
        "seed": seed,
        "permutations": permutations,
        "tests": [{**t.to_dict(), "rejects": t.p_value <= alpha} for t in tests],
        "gaussian": _gaussian_diagnostics(fake, real, reference, target, G),
        "modes": _modes(fake, real, target),
        "distinguishable": bool(different),
        "verdict": _verdict(tests, different, level, alpha, n),
        "platform": platform_facts(),  # where these numbers were computed (gankit.runs.platform)
    }
    return report


def _check_memory(run_dir: Path, n: int, latent_dim: int, d: int) -> None:
    """Refuse an ``n`` whose points, tests and fits cannot fit in memory, before any is drawn."""
    block = min(n, 2000)  # the quadratic tests run on blocks (gankit.metrics.twosample.blocked)
    require({
        "the generated and real points and their float64 copies": (n * (latent_dim * FLOAT + 10 * d * DOUBLE),
                                                                   "lower --n"),
        "the two-sample tests' pooled matrices": (4 * (2 * block) ** 2 * DOUBLE, "lower --n"),
        f"the Gaussian fits' {d} x {d} covariance matrices": (10 * d * d * DOUBLE, "use data with fewer columns"),
    }, f"{run_dir}: evaluating --n {n} points of {d} values")


def write_report(run_dir: str | Path, report: dict[str, Any]) -> Path:
    """Write ``eval.json`` into the run, atomically."""
    path = Path(run_dir) / "eval.json"
    write_json(path, json_safe(report))
    return path


def _real_points(config, n: int, seed: int):
    """(real (n, d), reference (n, d) or None, target or None, description)."""
    cfg = config.data
    if cfg.source in TARGETS:
        target = TARGETS[cfg.source](cfg)
        real = target.sample(n, streams.numpy_generator(seed, "eval.real"))
        return real, None, target, f"fresh draws from the target '{cfg.source}'"
    # A data file: the same split training made (make_dataset draws it first from the run's seed).
    dataset = make_dataset(cfg, torch.Generator().manual_seed(config.train.seed), config.train.seed)
    if dataset.heldout is None:
        raise UserError(
            f"the run trained on all of {cfg.source} (data.holdout = 0), so there are no real points "
            "it never saw; retrain with --set data.holdout=0.2, or compare files with 'gankit twosample'")
    heldout = dataset.heldout
    if heldout.shape[0] < 4:
        raise UserError(f"only {heldout.shape[0]} held-out points in {cfg.source}; need at least 4")
    m = min(n, heldout.shape[0])
    pick = torch.randperm(heldout.shape[0], generator=streams.generator(seed, "eval.real"))[:m]
    # Reference: as many training points, fitted against the held-out fit.
    ref_pick = torch.randperm(dataset.train.shape[0], generator=streams.generator(seed, "eval.reference"))[:m]
    description = f"{m} of {heldout.shape[0]} held-out points of {cfg.source}"
    return heldout[pick], dataset.train[ref_pick], None, description


def _gaussian_diagnostics(fake, real, reference, target, G) -> dict[str, Any]:
    """FD and KL of Gaussian fits: generated vs the truth, and a real sample of the same size vs the truth.

    Without a known truth, the held-out points' fit plays the truth and a
    same-size sample of training points plays the reference. The generated
    figures are ``sampled`` (the fit of the generated points); for an affine
    G its exact Gaussian's figures are given beside them (``exact_fd``,
    ``exact_kl``), as the run's summary reports them.
    """
    gen_mean, gen_cov = gaussian_fit(fake)
    if target is not None and hasattr(target, "cov"):
        true_mean, true_cov, against = target.mean, target.cov, "truth"
        ref_mean, ref_cov = gaussian_fit(real)
        ref_label = "real sample of the same size (MLE)"
    else:
        true_mean, true_cov, against = *gaussian_fit(real), "held-out fit"
        ref_mean, ref_cov = gaussian_fit(reference)
        ref_label = "training points of the same size (MLE)"
    exact = exact_gaussian(G)
    return {
        "against": against,
        "reference": ref_label,
        "sampled": True,
        "exact_fd": frechet_distance(*exact, true_mean, true_cov) if exact else None,
        "exact_kl": kl_gaussians(true_mean, true_cov, *exact) if exact else None,
        "generated_mean": gen_mean.tolist(),
        "generated_cov": gen_cov.tolist(),
        "fd": frechet_distance(gen_mean, gen_cov, true_mean, true_cov),
        "kl": kl_gaussians(true_mean, true_cov, gen_mean, gen_cov),
        "reference_fd": frechet_distance(ref_mean, ref_cov, true_mean, true_cov),
        "reference_kl": kl_gaussians(true_mean, true_cov, ref_mean, ref_cov),
    }


def _modes(fake, real, target) -> dict[str, Any] | None:
    if target is None or not hasattr(target, "means"):
        return None
    args = (target.means, target.covs, target.weights)
    return {"generated": mode_metrics(fake, *args), "real": mode_metrics(real, *args)}


_NAMES = {"mmd": "MMD", "energy": "energy", "classifier": "classifier", "discriminator": "discriminator"}


def _verdict(tests, different, level: float, alpha: float, n: int) -> str:
    if different:
        names = ", ".join(f"{_NAMES[t.name]} (p = {t.p_value:.3g})" for t in different)
        return (f"DIFFERENT: at level {alpha:g} the generated points can be told from real ones "
                f"with n = {n} per side, by {names}.")
    fooled = [t for t in tests if t.name == "discriminator"]
    extra = " The trained discriminator is fooled as well." if fooled else ""
    return (f"NOT DISTINGUISHED: no test tells the generated points from real ones at level {alpha:g} "
            f"with n = {n} per side; a larger n may still.{extra}")


def json_safe(obj):
    """JSON has no infinity or NaN: write null instead."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    return obj


def format_report(report: dict[str, Any]) -> str:
    """The readable table ``gankit eval`` prints."""
    lines = [f"{report['run']}: {report['n_generated']} generated vs {report['n_real']} real points "
             f"({report['real_source']})", f"generator: {GENERATOR_NAMES[report['generator']]}", ""]
    rows = [("test", "statistic", "p-value", f"at alpha={report['alpha']:g}")]
    for t in report["tests"]:
        rows.append((_test_label(t), _stat_text(t), f"{t['p_value']:.4g}",
                     ("different" if t["rejects"] else "same") if t["name"] != "discriminator"
                     else ("not fooled" if t["rejects"] else "fooled")))
    lines += _table(rows)
    g = report["gaussian"]
    lines += ["", *_table([
        ("Gaussian fit vs " + g["against"], "FD", "KL(true||fit)"),
        (f"generated (fit of {report['n_generated']} samples)", _num(g["fd"]), _num(g["kl"])),
        *([("generated (exact: affine G)", _num(g["exact_fd"]), _num(g["exact_kl"]))]
          if g.get("exact_fd") is not None else []),
        (g["reference"], _num(g["reference_fd"]), _num(g["reference_kl"])),
    ])]
    if report["modes"]:
        gm, rm = report["modes"]["generated"], report["modes"]["real"]
        lines += ["", *_table([
            ("modes (Mahalanobis <= 3 sd)", "captured", "high-quality", "KL(freq||weights)"),
            ("generated", f"{gm['modes_captured']} of {gm['modes']}", f"{gm['high_quality_fraction']:.3f}", _num(gm["kl_modes"])),
            ("real", f"{rm['modes_captured']} of {rm['modes']}", f"{rm['high_quality_fraction']:.3f}", _num(rm["kl_modes"])),
        ])]
    lines += ["", f"verdict (Bonferroni over {len(report['tests'])} tests, p <= {report['bonferroni_level']:.3g}): "
              + report["verdict"]]
    return "\n".join(lines)


def _test_label(t) -> str:
    return {"mmd": "MMD^2 (unbiased, Gaussian kernel)", "energy": "energy distance",
            "classifier": "classifier (C2ST) held-out AUC", "discriminator": "trained D's accuracy"}[t["name"]]


def _stat_text(t) -> str:
    return f"{t['statistic']:.3f}" if t["name"] in ("classifier", "discriminator") else f"{t['statistic']:.4g}"


def _num(x) -> str:
    if x is None:
        return "-"
    return f"{x:.4f}" if math.isfinite(x) else "inf"


def _table(rows) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]


__all__ = ["check_test_settings", "evaluate_run", "write_report", "format_report", "json_safe"]
