"""The headline table docs/tutorials/chapter.md and docs/chapter-plus.md quote, recomputed: statistics over seeds.

    python docs/headline.py [--seeds 200]

Trains the textbook's recipe and `--preset chapter-plus` on seeds 0..N-1 (the
report seeds of docs/chapter_plus.py, none of which its search saw) as
vectorised sweeps, and prints the table's rows: median fd_to_truth with its
95% bootstrap interval, the 10th and 90th percentiles, and the median's ratio
to the maximum-likelihood fit's with its interval.

What holds where: the MLE row is computed from the data and closed forms only,
so it is the same bits on every CPU. The two trained rows are float32 GAN
runs whose last bits depend on the CPU (gankit.runs.platform); their medians
move between machines within the quoted intervals, and tests/test_headline.py
checks exactly that (each quoted median inside the recomputed interval and the
recomputed median inside the quoted one).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "docs"))

from chapter_plus import REPORT_SEED, bootstrap_median, bootstrap_ratio, fds, fmt, summarize  # noqa: E402

from gankit import Config  # noqa: E402
from gankit.engines.sweep import run_sweep  # noqa: E402
from gankit.presets import preset_config  # noqa: E402

NAMES = {"textbook": "the textbook's recipe", "chosen": "`--preset chapter-plus`", "mle": "MLE of the same points"}


def configs() -> dict[str, Config]:
    """The two recipes of the table, seeded at the report seeds."""
    textbook = Config()
    chosen = preset_config("chapter-plus")
    for config in (textbook, chosen):
        config.train.seed = REPORT_SEED
    return {"textbook": textbook, "chosen": chosen}


def mle_values(seeds: int) -> list[float]:
    """mle_fd_to_truth of seeds 0..N-1: data and closed forms only (portable, no training)."""
    import torch

    from gankit.data import make_dataset
    from gankit.metrics.gaussian import frechet_distance, gaussian_fit

    config = Config()
    out = []
    for seed in range(REPORT_SEED, REPORT_SEED + seeds):
        data = make_dataset(config.data, torch.Generator(), seed)
        out.append(frechet_distance(*gaussian_fit(data.train), data.target.mean, data.target.cov))
    return out


def statistics(values: dict[str, list[float]]) -> dict[str, dict]:
    """Per row: median, p10, p90, the median's 95% interval, and (trained rows) the ratio to the MLE's."""
    mle = values["mle"]
    result = {name: {**summarize(v), "ci": bootstrap_median(v)} for name, v in values.items()}
    for name in values:
        if name != "mle":
            result[name]["ratio_to_mle"] = result[name]["median"] / result["mle"]["median"]
            result[name]["ratio_ci"] = bootstrap_ratio(values[name], mle)
    return result


def table_rows(result: dict[str, dict], seeds: int) -> list[str]:
    """The table as the docs print it (header, rule, three rows)."""
    return [f"| on {seeds} held-out seeds | median fd_to_truth (95% CI) | p10 | p90 | median / MLE's (95% CI) |",
            "|---|---|---|---|---|", *(table_row(name, result[name]) for name in ("textbook", "chosen", "mle"))]


def table_row(name: str, r: dict) -> str:
    """One row of the table from its `statistics` entry."""
    ratio = f"{r['ratio_to_mle']:.2f}x ({r['ratio_ci'][0]:.2f}-{r['ratio_ci'][1]:.2f})" if name != "mle" else "1"
    return (f"| {NAMES[name]} | {fmt(r['median'])} ({fmt(r['ci'][0])}-{fmt(r['ci'][1])}) | "
            f"{fmt(r['p10'])} | {fmt(r['p90'])} | {ratio} |")


def measure(seeds: int, which: tuple[str, ...] = ("textbook", "chosen")) -> dict[str, list[float]]:
    """fd_to_truth per seed for each recipe in ``which``, and the MLE's."""
    values = {name: fds(run_sweep(config, [], seeds, progress=False).rows)
              for name, config in configs().items() if name in which}
    values["mle"] = mle_values(seeds)
    return values


def parse_row(line: str) -> dict[str, float]:
    """A quoted row back into numbers: median, its interval, p10, p90."""
    cells = [c.strip() for c in line.strip("|").split("|")]
    median, interval = cells[1].split(" (")
    low, high = interval.rstrip(")").split("-")
    return {"median": float(median), "low": float(low), "high": float(high),
            "p10": float(cells[2]), "p90": float(cells[3])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=200)
    args = parser.parse_args()
    result = statistics(measure(args.seeds))
    print("\n".join(table_rows(result, args.seeds)))
    print(f"(median / p10 / p90 over seeds {REPORT_SEED}-{REPORT_SEED + args.seeds - 1}; "
          f"the MLE row is the same on every CPU)", file=sys.stderr)


if __name__ == "__main__":
    main()
