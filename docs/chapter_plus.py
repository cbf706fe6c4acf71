"""The chapter's GAN, as close to the truth as its data allow: the search behind --preset chapter-plus.

Searches the recipe of the chapter's experiment (the linear G stays; D may
widen, as the named variant "mlp") with `gankit sweep`'s engine, stage by
stage, on TUNING seeds, then judges the chosen recipe against the textbook's
on 200 held-out REPORT seeds, with the maximum-likelihood fit of the same
points as the yardstick. Writes docs/chapter-plus.md and its figures.

    python docs/chapter_plus.py             # the whole search and the report: 20-40 minutes on 2 cores
    python docs/chapter_plus.py --quick     # a smoke run: few seeds, nothing written unless --out

Each stage varies a few keys over the best recipe so far and keeps the cell
with the lowest median fd_to_truth whose 90th percentile is no worse than
the textbook's (a recipe that wins the median but fattens the tail is not a
win). Tuning seeds and report seeds never overlap.
"""

from __future__ import annotations

import argparse
import copy
import json
import platform
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from gankit.config import Config
from gankit.engines.sweep import parse_grid, run_sweep
from gankit.presets import PRESETS, preset_config

DOCS = Path(__file__).resolve().parent
TUNING_SEED, REPORT_SEED = 10_000, 0  # tuning seeds 10000.., report seeds 0..
MAX_EPOCHS = 400  # with batch 32 and the widest D tried: under 5 s of training per run on 2 cores

# Discriminator variants: the chapter's, and the "mlp" variant at several widths (tanh, like the chapter's).
D_VARIANTS = {"chapter 2-5-3-1": ("chapter", [16, 16]), "mlp 2-8-8-1": ("mlp", [8, 8]),
              "mlp 2-16-16-1": ("mlp", [16, 16]), "mlp 2-32-32-1": ("mlp", [32, 32])}

STAGES = [
    ("Training longer, in larger batches", None, ["epochs=20,100,200", "batch_size=8,32", "lr_g=0.005,0.001"]),
    ("The discriminator's capacity and learning rate", "d", ["lr_d=0.05,0.01,0.002"]),
    ("Adam's momentum, critic steps and the objective", None, ["beta1=0.9,0.5,0.0", "n_critic=1,2",
                                                              "loss=nonsaturating,minimax"]),
    ("Averaging G and decaying the learning rate", None, ["ema=0,0.99,0.999", "lr_schedule=constant,linear,cosine"]),
    ("Longer, faster, and the decay's floor", None, ["epochs=200,400", "lr_g=0.001,0.002,0.004", "lr_floor=0,0.1"]),
]


def summarize(values: list[float]) -> dict[str, float]:
    v = np.sort(np.asarray(values, dtype=np.float64))
    return {"median": float(np.median(v)), "p10": float(np.quantile(v, 0.1)), "p90": float(np.quantile(v, 0.9)),
            "n": len(v)}


def fds(rows) -> list[float]:
    """fd_to_truth per run; a diverged run counts as infinitely far."""
    return [r["fd_to_truth"] if r["fd_to_truth"] is not None else float("inf") for r in rows]


def cells_of(rows, keys):
    cells: dict[tuple, list[dict]] = {}
    for r in rows:
        cells.setdefault(tuple(r[k] for k in keys), []).append(r)
    return cells


def stage(base: Config, grid_items: list[str], seeds: int, d_variants: bool, figure: Path | None):
    """Run one stage; returns (rows of every cell, keys, the varied configs by cell)."""
    variants = D_VARIANTS if d_variants else {None: None}
    rows, configs = [], {}
    for label, variant in variants.items():
        config = copy.deepcopy(base)
        if variant is not None:
            config.model.discriminator, config.model.d_hidden = variant
        grid = parse_grid(grid_items, config)
        result = run_sweep(config, grid, seeds, progress=False)
        for r in result.rows:
            if label is not None:
                r["discriminator"] = label
            rows.append(r)
        for point in {tuple(r[k] for k, _ in grid) for r in result.rows}:
            varied = copy.deepcopy(config)
            for (key, _), value in zip(grid, point):
                varied.set(key, value)
            configs[((label,) if label is not None else ()) + point] = varied
    keys = (["discriminator"] if d_variants else []) + [k for k in rows[0] if k.count(".") == 1 and k != "run"]
    if figure is not None and len(keys) >= 1:
        from gankit.viz.sweep_plots import plot_heatmap

        plot_heatmap([{**r, "fd_to_truth": r["fd_to_truth"]} for r in rows], keys, path=figure)
    return rows, keys, configs


def bootstrap_median(values, reps: int = 10_000, seed: int = 0) -> tuple[float, float]:
    """95% percentile-bootstrap interval of the median."""
    rng = np.random.default_rng(seed)
    v = np.asarray(values, dtype=np.float64)
    meds = np.median(v[rng.integers(0, len(v), (reps, len(v)))], axis=1)
    return float(np.quantile(meds, 0.025)), float(np.quantile(meds, 0.975))


def bootstrap_quantile(values, q: float, reps: int = 10_000, seed: int = 0) -> tuple[float, float]:
    """95% percentile-bootstrap interval of the q-quantile (``bootstrap_median`` for any q)."""
    rng = np.random.default_rng(seed)
    v = np.asarray(values, dtype=np.float64)
    qs = np.quantile(v[rng.integers(0, len(v), (reps, len(v)))], q, axis=1)
    return float(np.quantile(qs, 0.025)), float(np.quantile(qs, 0.975))


def bootstrap_ratio(a, b, reps: int = 10_000, seed: int = 1) -> tuple[float, float]:
    """95% interval of median(a) / median(b), resampling the shared seeds in pairs."""
    rng = np.random.default_rng(seed)
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    idx = rng.integers(0, len(a), (reps, len(a)))
    ratios = np.median(a[idx], axis=1) / np.median(b[idx], axis=1)
    return float(np.quantile(ratios, 0.025)), float(np.quantile(ratios, 0.975))


def recipe_lines(config: Config) -> list[str]:
    default = Config().to_dict()
    out = []
    for section, values in config.to_dict().items():
        for key, value in values.items():
            if default[section][key] != value and key not in ("seed",):
                out.append(f"{section}.{key} = {value}")
    return out


def training_seconds(config: Config) -> float:
    """Seconds of training of one run alone (the fast path, as `gankit train` runs it), best of three."""
    from gankit.engines.training import train

    best = float("inf")
    for _ in range(3):
        result = train(copy.deepcopy(config))
        best = min(best, result.history[-1]["seconds"])
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tuning-seeds", type=int, default=64)
    parser.add_argument("--report-seeds", type=int, default=200)
    parser.add_argument("--quick", action="store_true", help="at most 8 tuning and 16 report seeds, writes nothing unless --out")
    parser.add_argument("--out", type=Path, default=None, help="the page to write (default docs/chapter-plus.md)")
    args = parser.parse_args()
    if args.quick:
        args.tuning_seeds, args.report_seeds = min(args.tuning_seeds, 8), min(args.report_seeds, 16)
    write = not args.quick or args.out is not None
    out = args.out or DOCS / "chapter-plus.md"
    torch.set_num_threads(1)
    started = time.perf_counter()

    textbook = Config()
    textbook.train.seed = TUNING_SEED
    tb_tuning = summarize(fds(run_sweep(textbook, [], args.tuning_seeds, progress=False).rows))
    best = copy.deepcopy(textbook)
    story = []
    for number, (title, special, grid_items) in enumerate(STAGES, start=1):
        figure = DOCS / "figures" / f"chapter-plus-stage{number}.png" if write else None
        rows, keys, configs = stage(best, grid_items, args.tuning_seeds, special == "d", figure)
        table = []
        for cell, cell_rows in cells_of(rows, keys).items():
            if configs[cell].train.epochs > MAX_EPOCHS:
                continue
            table.append((cell, summarize(fds(cell_rows))))
        table.sort(key=lambda item: item[1]["median"])
        allowed = [item for item in table if item[1]["p90"] <= tb_tuning["p90"]] or table
        chosen, chosen_stats = allowed[0]
        best = copy.deepcopy(configs[chosen])
        best.train.seed = TUNING_SEED
        story.append((number, title, keys, table, chosen))
        print(f"stage {number} ({title}): {dict(zip(keys, chosen))} median {chosen_stats['median']:.4f} "
              f"p90 {chosen_stats['p90']:.4f} [{time.perf_counter() - started:.0f} s]")

    # The judgement: 200 seeds none of the stages saw.
    report = {}
    for name, config in (("textbook", textbook), ("chosen", best)):
        config = copy.deepcopy(config)
        config.train.seed = REPORT_SEED
        report[name] = run_sweep(config, [], args.report_seeds, progress=False).rows
    mle = [r["mle_fd_to_truth"] for r in report["textbook"]]
    seconds = training_seconds(best)
    elapsed = time.perf_counter() - started
    result = {name: {**summarize(fds(rows)), "ci": bootstrap_median(fds(rows))} for name, rows in report.items()}
    result["mle"] = {**summarize(mle), "ci": bootstrap_median(mle)}
    for name in ("textbook", "chosen"):
        result[name]["ratio_to_mle"] = result[name]["median"] / result["mle"]["median"]
        result[name]["ratio_ci"] = bootstrap_ratio(fds(report[name]), mle)
    print(json.dumps(result, indent=1))
    print("recipe:", recipe_lines(best), f"training {seconds:.2f} s per run")
    if write:
        out.write_text(page(story, result, best, seconds, args, elapsed))
        print(f"wrote {out}")


def fmt(v: float) -> str:
    return "inf" if v == float("inf") else f"{v:.4f}"


def page(story, result, best: Config, seconds: float, args, elapsed: float) -> str:
    preset = PRESETS.get("chapter-plus")
    lines = [
        "# The chapter's GAN, as close to the truth as its data allow",
        "",
        "<!-- Generated by docs/chapter_plus.py: do not edit by hand; rerun `python docs/chapter_plus.py`. -->",
        "",
        "The chapter's recipe (a linear G, the 2-5-3-1 tanh D, batches of 8, Adam at lr_D 0.05 and",
        "lr_G 0.005, 20 epochs) ends, over many seeds, about ten times farther from the true Gaussian",
        "than the maximum-likelihood fit of the same 1000 points. How much of that gap is the GAN",
        "objective itself, and how much is the recipe? We searched the recipe with `gankit sweep`,",
        f"stage by stage, on {args.tuning_seeds} tuning seeds (10000 onwards), then judged the result",
        f"on {args.report_seeds} other seeds (0 onwards).",
        "",
        "## What we found",
        "",
        f"| on {args.report_seeds} held-out seeds | median fd_to_truth (95% CI) | p10 | p90 | median / MLE's (95% CI) |",
        "|---|---|---|---|---|",
    ]
    for name, label in (("textbook", "the textbook's recipe"), ("chosen", "`--preset chapter-plus`"),
                        ("mle", "MLE of the same points")):
        r = result[name]
        ratio = (f"{r['ratio_to_mle']:.2f}x ({r['ratio_ci'][0]:.2f}-{r['ratio_ci'][1]:.2f})"
                 if "ratio_to_mle" in r else "1")
        lines.append(f"| {label} | {fmt(r['median'])} ({fmt(r['ci'][0])}-{fmt(r['ci'][1])}) | {fmt(r['p10'])} | "
                     f"{fmt(r['p90'])} | {ratio} |")
    lines += [
        "",
        f"The chosen recipe trains in {seconds:.2f} s per run on this machine (one run alone, the fast",
        "path, best of three). Its settings, over the chapter's defaults:",
        "",
        *[f"- `{line}`" for line in recipe_lines(best)],
        "",
        "`gankit train --preset chapter-plus` trains it; the default stays the textbook's recipe."
        + ("" if preset is None else ""),
        "",
        "## The search, stage by stage",
        "",
        "Each stage varies a few keys over the best recipe so far; each cell is the median over the",
        "tuning seeds, and the cell kept is the lowest median whose 90th percentile is no worse than",
        "the textbook's on the same seeds.",
        "",
    ]
    for number, title, keys, table, chosen in story:
        lines += [f"### {number}. {title}", "", f"![stage {number}](figures/chapter-plus-stage{number}.png)", "",
                  "| " + " | ".join(k.split(".")[-1] for k in keys) + " | median | p10 | p90 |",
                  "|" + "---|" * (len(keys) + 3)]
        for cell, stats in table[:8]:
            mark = " **kept**" if cell == chosen else ""
            lines.append("| " + " | ".join(str(v) for v in cell) + f" | {fmt(stats['median'])}{mark} | "
                         f"{fmt(stats['p10'])} | {fmt(stats['p90'])} |")
        if len(table) > 8:
            lines.append(f"| ({len(table) - 8} more cells, all with a higher median) | | | |")
        lines.append("")
    lines += [
        "## Why",
        "",
        "- **Most of the gap is Adam's noise at the chapter's step size.** Adam's steps are about lr",
        "  in size whatever the gradient, so with lr_G 0.005 and batches of 8 the final G is a random",
        "  point of a wide cloud around the equilibrium, and which point depends on the seed. Stage 1",
        "  holds the largest gain: a smaller lr_G, batches of 32 (less noisy gradients) and 200 epochs",
        "  (enough steps at the smaller rate) take the median from about 0.09 to 0.015. Less momentum",
        "  (beta1 0, stage 3) and averaging G's weights (`train.ema` 0.999, stage 4) shrink the cloud",
        "  further.",
        "- **The discriminator is the GAN's only view of the data.** A wider D (stage 2: 2-32-32-1",
        "  at lr_D 0.01 against the chapter's 2-5-3-1) keeps telling the samples apart for longer, and",
        "  G follows it closer to the data: a smaller gain than stage 1's, but a clear one. (The",
        "  chapter's exercise shows the other side: its trained D stays near chance long after fresh",
        "  two-sample tests tell the samples apart.)",
        "- **What did not help:** a second critic step per G step (n_critic 2) was far worse at the",
        "  same number of epochs; decaying the learning rates to the end (linear or cosine) was worse",
        "  at 200 epochs, as the rates fall before G has converged; 400 epochs did not beat 200.",
        "  The objective hardly mattered (minimax and non-saturating within each other's noise once",
        "  D is near chance, where their gradients agree up to sign and scale). `lr_floor` is inert",
        "  under a constant schedule, and its pairs in stage 5 are identical, as they must be.",
        "- **Why it stops near the MLE:** the GAN sees only the 1000 training points, through D. Its",
        "  best is to reproduce their distribution, which is what the MLE's Gaussian does exactly;",
        "  the remaining spread is the finite sample's, shared by both, and what is left of the",
        "  optimiser's.",
        "",
        "## Reproduce",
        "",
        "```bash",
        "python docs/chapter_plus.py      # the search and this page",
        "gankit train --preset chapter-plus",
        "```",
        "",
        f"Run time {elapsed / 60:.0f} min on {platform.machine()} with torch {torch.__version__}, one thread.",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
