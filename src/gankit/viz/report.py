"""One self-contained HTML page for a run: config, figures, animations, metrics, evaluation.

Everything is inside the file: images as base64 ``data:`` URIs, CSS inline, no
script, no font, no link to anything outside, so the page opens offline and
makes no network request. It reads only the run directory. An image run's
page has its own captions and opens with a table of its quality scores
beside their baselines (`gankit.viz.report_images`).
"""

from __future__ import annotations

import base64
import html
import json
import sys
from pathlib import Path
from typing import Any, Sequence

from gankit.config import parse_json
from gankit.errors import UserError
from gankit.files import atomic_write, check_output, hold_run, is_image_run, load_run_config, read_metrics, read_summary
from gankit.runs.platform import differences
from gankit.viz.report_images import (IMAGE_CSS, QUALITY_LABELS, check_quality, class_table, headline_table,
                                      image_figures, is_number, warnings_list)

# (file, caption) of a 2-D run, in the order the page shows them (an image run's: `image_figures`).
FIGURES = [
    ("losses.png", "Losses per example against the epoch, dashed where the objective's equilibrium "
                   "puts them (D outputs 1/2: ln 2 for both under the chapter's loss)."),
    ("samples.png", "Real vs generated points at the end, D's P(real) shaded behind."),
    ("ganlab.png", "GAN Lab view: D's surface, real and generated points, and the pull "
                   "-d loss_G / d x on each generated point."),
]
ANIMATIONS = [
    ("ganlab.gif", "GAN Lab view over training, one frame per epoch."),
    ("training.gif", "Real vs generated points over training, one frame per epoch."),
]
MIME = {".png": "image/png", ".gif": "image/gif"}
PAIRED = ("samples.png", "real.png")  # an image run's pictures shown first, side by side
SMALL_GRID = 256  # px: an image run's picture narrower than this is scaled up on the page

CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0; color: #1d1d1f;
       background: #fafafa; line-height: 1.45; }
main { max-width: 980px; margin: 0 auto; padding: 1rem; }
h1 { font-size: 1.5rem; margin: 0.5rem 0; word-break: break-all; }
h2 { font-size: 1.15rem; border-bottom: 1px solid #ddd; padding-bottom: 0.2rem; margin-top: 1.8rem; }
.figures { display: grid; grid-template-columns: repeat(auto-fit, minmax(280px, 1fr)); gap: 1rem; }
figure { margin: 0; background: white; border: 1px solid #e3e3e3; border-radius: 6px; padding: 0.5rem; }
figure img { max-width: 100%; height: auto; display: block; margin: 0 auto; }
figcaption { font-size: 0.85rem; color: #555; margin-top: 0.3rem; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; font-size: 0.9rem; background: white; }
th, td { border: 1px solid #ddd; padding: 0.25rem 0.5rem; text-align: left; vertical-align: top; }
th { background: #f0f0f0; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
pre { background: white; border: 1px solid #e3e3e3; padding: 0.6rem; overflow-x: auto; font-size: 0.85rem; }
.note { color: #666; font-size: 0.9rem; }
details { margin-top: 1rem; }
summary { cursor: pointer; font-weight: 600; }
"""


def _embed(path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f"data:{MIME[path.suffix.lower()]};base64,{data}"


def _cell(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return f"<td>{html.escape(json.dumps(value))}</td>"
    if isinstance(value, float):
        return f'<td class="num">{value:.6g}</td>'
    if isinstance(value, int):
        return f'<td class="num">{value}</td>'
    if isinstance(value, list):
        return f"<td><code>{html.escape(_short(value))}</code></td>"
    return f"<td>{html.escape(str(value))}</td>"


def _short(value: Any) -> str:
    """Nested lists of numbers, compactly: [[1.01, 1.95], [1.95, 4.25]]."""
    if isinstance(value, list):
        return "[" + ", ".join(_short(v) for v in value) + "]"
    if isinstance(value, float):
        return f"{value:.4g}"
    return json.dumps(value)


def flatten(obj: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """Nested dicts as (dotted key, leaf) rows; lists stay leaves."""
    if isinstance(obj, dict):
        rows = []
        for key, value in obj.items():
            rows += flatten(value, f"{prefix}.{key}" if prefix else str(key))
        return rows
    return [(prefix or "value", obj)]


def _key_table(obj: Any, labels: dict[str, str] | None = None) -> str:
    """Every leaf of ``obj`` as a row; with ``labels``, each key under its plain-English label."""
    def head(key: str) -> str:
        if labels is None:
            return html.escape(key)
        return f'{html.escape(labels.get(key, key))}<span class="explain">{html.escape(key)}</span>'

    rows = "".join(f"<tr><th>{head(k)}</th>{_cell(v)}</tr>" for k, v in flatten(obj))
    return f'<div class="scroll"><table>{rows}</table></div>'


def _history_table(history: list[dict[str, Any]]) -> str:
    if not history:
        return '<p class="note">No metrics.jsonl in this run.</p>'
    columns = list(history[0])
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(_cell(row.get(c)) for c in columns) + "</tr>" for row in history)
    return f'<div class="scroll"><table><tr>{head}</tr>{body}</table></div>'


# The numbers a 2-D summary holds: each a number, or null where unknown (a run saved before its first
# epoch has no losses; a data file has no truth). Vectors and matrices are lists of them.
SCALARS = ("loss_d", "loss_g", "examples_per_sec", "fd_to_truth", "kl_to_truth", "mle_fd_to_truth",
           "mle_kl_to_truth", "fd_to_data_fit")
ARRAYS = ("generated_mean", "generated_cov", "mle_mean", "mle_cov", "true_mean", "true_cov")


def _check_numbers(summary: dict[str, Any], path: Path) -> None:
    """One line naming the file and key where a well-formed summary holds something else than gankit writes."""
    def numbers(value: Any) -> bool:
        return is_number(value) or (isinstance(value, list) and all(numbers(v) for v in value))

    for key in SCALARS:
        if summary.get(key) is not None and not is_number(summary[key]):
            raise UserError(f"{path}: {key} must be a number or null, got {str(summary[key])[:40]!r}")
    for key in ARRAYS:
        if summary.get(key) is not None and not (isinstance(summary[key], list) and numbers(summary[key])):
            raise UserError(f"{path}: {key} must be a list of numbers or null, got {str(summary[key])[:40]!r}")


def _fixed(value: Any, digits: int) -> str:
    """A number with ``digits`` decimals; "–" for a value the run does not have (null)."""
    return f"{value:.{digits}f}" if is_number(value) else "–"


def _comparison_table(summary: dict[str, Any]) -> str:
    """What G learned beside the data's MLE and the truth (the CLI's table)."""
    if "generated_mean" not in summary:
        return ""
    rows = [("generator" + ("" if summary.get("generated_exact") else " (sampled)"), "generated", "fd_to_truth",
             "kl_to_truth"), ("MLE of data", "mle", "mle_fd_to_truth", "mle_kl_to_truth"),
            ("truth", "true", None, None)]
    head = "<tr><th></th><th>mean</th><th>covariance</th><th>FD to truth</th><th>KL(true&#8214;fit)</th></tr>"
    body = ""
    for label, prefix, fd, kl in rows:
        if summary.get(prefix + "_mean") is None:
            continue  # no known truth (a data file)
        body += (f"<tr><th>{html.escape(label)}</th>{_cell(summary.get(prefix + '_mean'))}"
                 f"{_cell(summary.get(prefix + '_cov'))}"
                 f"{_cell(summary.get(fd)) if fd else _cell(0)}{_cell(summary.get(kl)) if kl else _cell(0)}</tr>")
    return f'<div class="scroll"><table>{head}{body}</table></div>'


def _figures(run_dir: Path, items: list[tuple[str, str]], grids: bool = False,
             pair: bool = False) -> tuple[str, list[str]]:
    """The figures of ``items`` that exist, and the names of those that do not.

    With ``grids`` (an image run's pictures) each takes the column's full width,
    and one narrower than `SMALL_GRID` px (a grid from before they were drawn at
    a viewable size) is scaled up with whole pixels kept sharp; with ``pair``
    two share a row (generated beside real) where the page is wide enough.
    """
    parts, missing = [], []
    for name, caption in items:
        path = run_dir / name
        if not path.is_file():
            missing.append(name)
            continue
        small = grids and _width(path) < SMALL_GRID
        parts.append(f'<figure><img src="{_embed(path)}" alt="{html.escape(name)}"'
                     + (' class="pixelated"' if small else "") + ">"
                     f"<figcaption>{html.escape(name)}: {html.escape(caption)}</figcaption></figure>")
    kind = " pair" if pair else " wide" if grids else ""
    return f'<div class="figures{kind}">' + "".join(parts) + "</div>", missing


def _folded(title: str, content: str) -> str:
    """``content`` under a heading the reader opens (no script: HTML's own details element)."""
    return f"<details><summary>{html.escape(title)}</summary>{content}</details>"


# Scores of eval.json that may differ from the summary's although the scores are the same.
NOT_SCORES = {"generator", "classifier_cached"}


def same_scores(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Whether two quality dicts hold the same scores (what produced them aside)."""
    def scores(q: dict[str, Any]) -> dict[str, Any]:
        return {key: value for key, value in q.items() if key not in NOT_SCORES}

    return scores(a) == scores(b)


def _width(path: Path) -> int:
    from PIL import Image

    try:
        with Image.open(path) as im:
            return im.width
    except OSError:  # not a picture Pillow reads: shown as it is
        return SMALL_GRID


def _read_eval(run_dir: Path) -> Any | None:
    path = run_dir / "eval.json"
    if not path.is_file():
        return None
    try:
        return parse_json(path.read_text(), str(path))
    except UnicodeDecodeError as err:
        raise UserError(f"{path}: not valid JSON ({err})") from None


def _quality(record: Any, where: str) -> dict[str, Any] | None:
    """The ``quality`` dict of an image run's summary or ``eval.json`` (checked), if it has one."""
    quality = record.get("quality") if isinstance(record, dict) else None
    return check_quality(quality, where) if isinstance(quality, dict) else None


def render_report(run_dir: str | Path, notes: Sequence[str] = ()) -> str:
    """The report page of a run, as an HTML string.

    Sections: the closing line and what G learned beside the MLE and the
    truth; the evaluation (``eval.json``, when present, shown generically as
    key/value rows); figures; animations; every ``summary.json`` value;
    per-epoch metrics (``metrics.jsonl``); the config. ``notes`` (e.g. why an
    animation could not be drawn) are shown under the animations.

    An image run's page opens instead with its quality: FD (and its ratio to
    the real halves'), KID, precision and recall, the smallest class share
    and a conditional G's label accuracy, each beside the real-halves and
    noise baselines, then the share of each class by name and any health
    warnings; its figures are the last sample grid, the latent interpolation
    and the losses, its animation the grids over training. An image
    ``eval.json`` gets the same tables; the quality scores are listed in
    full, labelled, under the summary.
    """
    run_dir = Path(run_dir)
    config = load_run_config(run_dir)  # also checks that this is a run
    summary = read_summary(run_dir)
    evaluation = _read_eval(run_dir)
    history = read_metrics(run_dir)
    images = is_image_run(run_dir, summary)
    figure_items, animation_items = image_figures(config, summary) if images else (FIGURES, ANIMATIONS)
    pictures, missing = "", []
    if images:  # the sample grid and the real images, side by side
        pair = [item for item in figure_items if item[0] in PAIRED]
        figure_items = [item for item in figure_items if item[0] not in PAIRED]
        pictures, missing = _figures(run_dir, pair, grids=True, pair=True)
    figures, missing_figs = _figures(run_dir, figure_items, grids=images)
    animations, missing_anims = _figures(run_dir, animation_items, grids=images)
    missing += missing_figs + missing_anims
    quality, image_eval = ((_quality(summary, str(run_dir / "summary.json")),
                            _quality(evaluation, str(run_dir / "eval.json"))) if images else (None, None))
    title = f"gankit run {run_dir.resolve().name}"

    sections = [f"<h1>{html.escape(title)}</h1>"]
    if summary:
        _check_numbers(summary, run_dir / "summary.json")
        line = (f"loss_D {_fixed(summary.get('loss_d'), 3)}, loss_G {_fixed(summary.get('loss_g'), 3)}, "
                f"{_fixed(summary.get('examples_per_sec'), 1)} examples/sec")
        sections += [f"<p><code>{html.escape(line)}</code></p>", _comparison_table(summary)]
    sections += _platform_notes(summary, evaluation)
    if images:  # the pictures first, generated beside real, then how good they are
        sections += ["<h2>Samples</h2>", pictures]
    if quality:
        scored = f"{summary.get('sampled_from', 'G')} after epoch {summary.get('epochs', '?')} (summary.json)"
        sections += ["<h2>Quality</h2>", headline_table(quality, scored), class_table(quality),
                     warnings_list(summary.get("warnings") or [])]
    eval_differs = bool(image_eval) and not (quality and same_scores(quality, image_eval))
    if image_eval and not eval_differs:
        sections += ["<h2>Evaluation</h2>", '<p class="note">gankit eval (eval.json) found the same scores as '
                     "the end of training (summary.json): the same generator, images and settings.</p>"]
    elif image_eval:
        scored = f"gankit eval: {image_eval.get('generator', 'the generator')} (eval.json)"
        sections += ["<h2>Evaluation</h2>", headline_table(image_eval, scored), class_table(image_eval)]
    elif evaluation is not None:
        sections += ["<h2>Evaluation</h2>", _key_table(evaluation)]
    sections += ["<h2>Figures</h2>", figures, "<h2>Animations</h2>", animations]
    if missing:
        why = "trained with --no-plots" if images else "trained with --no-plots, or data that is not 2-D"
        sections.append(f'<p class="note">Not in this run: {html.escape(", ".join(missing))} ({why}).</p>')
    sections += [f'<p class="note">{html.escape(note)}</p>' for note in notes]
    sections.append("<h2>Summary</h2>")
    if quality:  # its rows under their labels, below the rest, folded
        rest = {key: value for key, value in summary.items() if key != "quality"}
        sections += [_key_table(rest), _folded(f"Every quality score ({len(flatten(quality))})",
                                               _key_table(quality, QUALITY_LABELS))]
    else:
        sections.append(_key_table(summary) if summary else '<p class="note">No summary.json in this run.</p>')
    if eval_differs:
        sections.append(_folded(f"Every evaluation score, eval.json ({len(flatten(image_eval))})",
                                _key_table(image_eval, QUALITY_LABELS)))
    sections += ["<h2>Per-epoch metrics</h2>", _history_table(history)]
    sections += ["<h2>Config</h2>", f"<pre>{html.escape(json.dumps(config.to_dict(), indent=2))}</pre>"]
    return _page(title, "\n".join(sections), CSS + (IMAGE_CSS if images else ""))


def _page(title: str, body: str, css: str) -> str:
    """The whole HTML document around ``body``."""
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<title>{html.escape(title)}</title>
<style>{css}</style>
</head>
<body>
<main>
{body}
</main>
</body>
</html>
"""


SWEEP_FIGURES = [
    ("heatmap.png", "Median fd_to_truth over the first two grid keys (other keys and seeds pooled); for a "
                    "one-key grid, every run's fd_to_truth per value with its median and 10th to 90th percentile."),
    ("samples.png", "Final real vs generated points for up to 12 runs spread over the sweep."),
]


def is_sweep_dir(path: str | Path) -> bool:
    """A directory `gankit sweep` wrote (its ``sweep.json`` is the mark)."""
    return (Path(path) / "sweep.json").is_file()


def render_sweep_report(sweep_dir: str | Path) -> str:
    """The report page of a sweep directory: the grid and its timing, the figures, every run's row
    (``runs.csv``) and the base config."""
    sweep_dir = Path(sweep_dir)
    config = load_run_config(sweep_dir)
    path = sweep_dir / "sweep.json"
    try:
        sweep = parse_json(path.read_text(), str(path))
    except UnicodeDecodeError as err:
        raise UserError(f"{path}: not valid JSON ({err})") from None
    if not isinstance(sweep, dict):
        raise UserError(f"{path}: expected a JSON object, got {type(sweep).__name__}")
    rows = _read_rows(sweep_dir / "runs.csv")
    figures, missing = _figures(sweep_dir, SWEEP_FIGURES)
    title = f"gankit sweep {sweep_dir.resolve().name}"
    line = f"{sweep.get('runs', len(rows))} runs over {', '.join(map(str, sweep.get('grid') or {})) or 'seeds'}"
    sections = [f"<h1>{html.escape(title)}</h1>", f"<p><code>{html.escape(line)}</code></p>",
                "<h2>Sweep</h2>", _key_table(sweep), "<h2>Figures</h2>", figures]
    if missing:
        sections.append(f'<p class="note">Not in this sweep: {html.escape(", ".join(missing))} '
                        "(swept with --no-plots).</p>")
    sections += [f"<h2>Runs ({len(rows)})</h2>", _history_table(rows) if rows else
                 '<p class="note">No runs.csv in this sweep.</p>',
                 "<h2>Base config</h2>", f"<pre>{html.escape(json.dumps(config.to_dict(), indent=2))}</pre>"]
    return _page(title, "\n".join(sections), CSS)


STUDY_FIGURES = [
    ("history.png", "Each finished trial's value by trial number (pruned trials at their last reported value), "
                    "and the best so far."),
    ("importance.png", "How much of the value's variance each parameter explains (Optuna's fANOVA)."),
    ("parameters.png", "The value against each searched parameter."),
]


def is_study_dir(path: str | Path) -> bool:
    """A directory `gankit tune` made (its ``tune.json`` is the mark)."""
    return (Path(path) / "tune.json").is_file()


def render_study_report(study_dir: str | Path) -> str:
    """The report page of a study directory: the search and its best trial, the figures, every
    trial's row (``trials.csv``) and the best config (``best.json``)."""
    study_dir = Path(study_dir)
    records = {}
    for name in ("tune.json", "study.json", "best.json"):
        path = study_dir / name
        if not path.is_file():
            records[name] = None
            continue
        try:
            records[name] = parse_json(path.read_text(), str(path))
        except UnicodeDecodeError as err:
            raise UserError(f"{path}: not valid JSON ({err})") from None
        if not isinstance(records[name], dict):
            raise UserError(f"{path}: expected a JSON object, got {type(records[name]).__name__}")
    spec, info, best = records["tune.json"], records["study.json"], records["best.json"]
    rows = _read_rows(study_dir / "trials.csv")
    figures, missing = _figures(study_dir, STUDY_FIGURES)
    title = f"gankit tune {study_dir.resolve().name}"
    line = f"{len(rows)} trials of {spec.get('metric')} ({spec.get('direction')}) over " + "; ".join(
        map(str, spec.get("space") or []))
    sections = [f"<h1>{html.escape(title)}</h1>", f"<p><code>{html.escape(line)}</code></p>"]
    if info is None:
        sections.append('<p class="note">No study.json yet: no worker has finished on this study.</p>')
    else:
        sections += ["<h2>Study</h2>", _key_table(info)]
    sections += ["<h2>Figures</h2>", figures]
    if missing:
        sections.append(f'<p class="note">Not in this study: {html.escape(", ".join(missing))} '
                        "(tuned with --no-plots, or no trial finished).</p>")
    sections += [f"<h2>Trials ({len(rows)})</h2>", _history_table(rows) if rows else
                 '<p class="note">No trials.csv in this study.</p>']
    if best is not None:
        sections += ["<h2>Best config (best.json)</h2>",
                     "<p>Train it with <code>gankit train --config best.json</code>.</p>",
                     f"<pre>{html.escape(json.dumps(best, indent=2))}</pre>"]
    return _page(title, "\n".join(sections), CSS)


def _read_rows(path: Path) -> list[dict[str, Any]]:
    """``runs.csv`` as rows, numbers as numbers and empty cells as None; no file: no rows."""
    import csv

    if not path.is_file():
        return []
    try:
        with open(path, newline="") as f:
            return [{key: _number(value) for key, value in row.items()} for row in csv.DictReader(f)]
    except (UnicodeDecodeError, csv.Error) as err:
        raise UserError(f"{path}: not a CSV file gankit wrote ({err})") from None


def _number(text: str | None) -> Any:
    if text is None or text == "":
        return None
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return text


def _platform_notes(summary: dict[str, Any], evaluation: Any) -> list[str]:
    """Where the run was trained, and a remark when its ``eval.json`` was computed elsewhere."""
    made = summary.get("platform") if isinstance(summary, dict) else None
    if not isinstance(made, dict):
        return []
    where = (f"Trained on {made.get('cpu')} ({made.get('machine')}), torch {made.get('torch')} dispatching to "
             f"{made.get('cpu_capability')} with {made.get('torch_threads')} thread(s), NumPy {made.get('numpy')} "
             f"({made.get('numpy_blas')}), device {made.get('device')}: float32 results repeat bit for bit there, "
             "and elsewhere agree to rounding.")
    notes = [f'<p class="note">{html.escape(where)}</p>']
    if isinstance(evaluation, dict) and isinstance(evaluation.get("platform"), dict):
        diff = differences(made, evaluation["platform"])
        if diff:
            notes.append(f'<p class="note">{html.escape("eval.json was computed on another platform than the run: " + "; ".join(diff))}.</p>')
    return notes


def write_report(run_dir: str | Path, out: str | Path | None = None, force: bool = False) -> Path:
    """Write the report page (default ``RUN/report.html``, replaced each time), atomically.

    ``run_dir`` may be a sweep directory (its page is `render_sweep_report`'s) or a study
    directory of ``gankit tune`` (`render_study_report`).

    An ``out`` of your own replaces an existing file only with ``force``, and never a run's own
    files or anything that is not a regular file (`gankit.files.check_output`).

    For a 2-D run, GAN Lab's animations (``ganlab.gif``, and ``ganlab.mp4``
    with ffmpeg) are drawn into the run first if they are missing; a damaged
    ``snapshots.safetensors`` is skipped with a note (stderr and the page).
    An image run has none to draw: nothing is written into it but the page.

    Returns:
        The path written.
    """
    if is_study_dir(run_dir):
        out = check_output(out, force) if out is not None else Path(run_dir) / "report.html"
        atomic_write(out, render_study_report(run_dir))
        return out
    load_run_config(run_dir)  # a run at all, and readable records, before anything is drawn into it
    if is_sweep_dir(run_dir):
        out = check_output(out, force) if out is not None else Path(run_dir) / "report.html"
        atomic_write(out, render_sweep_report(run_dir))
        return out
    with hold_run(run_dir):  # as training holds it: a page is never of weights a --resume is replacing
        return _write_report(run_dir, out, force)


def _write_report(run_dir: str | Path, out: str | Path | None, force: bool) -> Path:
    summary = read_summary(run_dir)
    _read_eval(Path(run_dir))
    out = check_output(out, force) if out is not None else Path(run_dir) / "report.html"
    notes = []
    if not is_image_run(Path(run_dir), summary) and not (Path(run_dir) / "ganlab.gif").is_file():
        # gankit train draws only the still
        from gankit.viz.ganlab import draw_ganlab_run

        try:
            draw_ganlab_run(Path(run_dir), animate=True)
        except UserError as err:  # a damaged snapshots file costs the animations, not the page
            print(f"gankit: {err}", file=sys.stderr)
            notes.append(str(err))
    page = render_report(run_dir, notes)
    atomic_write(out, page)
    return out


__all__ = ["flatten", "is_study_dir", "is_sweep_dir", "render_report", "render_study_report", "render_sweep_report",
           "same_scores", "write_report"]
