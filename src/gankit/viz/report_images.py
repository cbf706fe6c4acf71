"""The image-run parts of the report page: captions, the headline quality table, class shares, labels.

`gankit.viz.report` assembles the page; this module turns an image run's
``summary.json`` (its ``quality`` dict, `gankit.metrics.images.evaluate_images`)
into HTML pieces that read on their own: each score beside the same score of
real images (the real halves) and of noise, with what it means and the
sample sizes it rests on. A score skipped for a tiny set shows as "–" with
the recorded reason; a baseline that was not computed shows as "–".
"""

from __future__ import annotations

import html
import json
import math
from typing import Any

from gankit.errors import UserError

DASH = "\u2013"  # what a score or baseline that is not there shows as

IMAGE_CSS = """
.figures.wide { grid-template-columns: repeat(auto-fit, minmax(min(100%, 520px), 1fr)); }
.figures.pair { grid-template-columns: repeat(auto-fit, minmax(min(100%, 300px), 1fr)); }
img.pixelated { width: 100%; max-width: 512px; image-rendering: pixelated; }
table.headline td.num, table.classes td.num { white-space: nowrap; }
@media (max-width: 640px) {  /* a phone: each score a block, its three values under it, named */
  table.headline, table.headline tbody, table.headline tr, table.headline th, table.headline td { display: block; }
  table.headline tr:first-child { display: none; }
  table.headline tr { border: 1px solid #ddd; margin-bottom: 0.4rem; background: white; }
  table.headline th, table.headline td { border: none; }
  table.headline td.num { text-align: left; white-space: normal; padding: 0.1rem 0.5rem; }
  table.headline td::before { content: attr(data-label) ": "; color: #555; }
}
.explain { display: block; font-weight: normal; font-size: 0.8rem; color: #555; }
.skipped { display: block; font-size: 0.8rem; color: #a33; white-space: normal; }
.bar { display: inline-block; height: 0.7em; background: #4a7fb5; margin-left: 0.3rem; vertical-align: baseline; }
p.sizes { margin-top: 0.3rem; }
"""

# Every key `evaluate_images` (and `gankit eval`'s `evaluate_run`) records, in plain English.
QUALITY_LABELS = {
    "generator": "the generator scored (G_ema: the moving average of G's weights)",
    "feature_space": "feature space the scores are computed in",
    "feature_dim": "features per image",
    "classifier_cached": "feature classifier loaded from the cache (not trained for this run)",
    "reference": "real images the generated ones are compared with",
    "n_generated": "generated images per set",
    "n_reference": "real reference images",
    "n_train": "real training images (one half of the real halves)",
    "fd": "FD: Fréchet distance, mean over the generated sets and feature classifiers",
    "fd_std": "FD: standard deviation over the generated sets",
    "fd_feature_spaces": "FD: feature classifiers (seeds) averaged",
    "fd_sets": "FD: generated sets averaged",
    "fd_skipped": "FD: why it was skipped",
    "kid": "KID: kernel inception distance, mean over subsets",
    "kid_std": "KID: standard deviation over subsets",
    "kid_se": "KID: standard error of the mean",
    "kid_subsets": "KID: random subsets",
    "kid_subset_size": "KID: images per subset and side",
    "kid_skipped": "KID: why it was skipped",
    "kid_spread_skipped": "KID: why it has no spread",
    "feature_weights_sha256": "feature network: SHA-256 of its weights (the first classifier's, or yours)",
    "feature_input_shape": "feature network: the image shape it takes",
    "feature_input_dtype": "feature network: the images' dtype",
    "fd_warning": "FD: a warning about how it was computed",
    "n_kid_generated": "KID: generated images drawn from",
    "precision": "precision: share of generated images on the real images' manifold",
    "recall": "recall: share of real images on the generated images' manifold",
    "pr_k": "precision and recall: nearest neighbours k",
    "pr_skipped": "precision and recall: why they were skipped",
    "precision_real_halves": "precision of n real images against n others (the real-halves baseline), mean over splits",
    "recall_real_halves": "recall of n real images against n others (the real-halves baseline), mean over splits",
    "n_pr_real_halves": "precision and recall of the real halves: training images drawn",
    "fd_noise": "FD of uniform noise (the noise baseline)",
    "n_noise": "noise images",
    "fd_real_halves": "FD of the training images to the held-out ones (the real-halves baseline)",
    "kid_real_halves": "KID of the training images to the held-out ones (the real-halves baseline)",
    "kid_real_halves_se": "KID real halves: standard error",
    "kid_real_halves_spread_skipped": "KID real halves: why it has no spread",
    "fd_ratio": "FD / real-halves FD, mean over the feature classifiers",
    "fd_ratio_se": "FD ratio: standard error of the mean",
    "fd_ratio_interval": "FD ratio: 2.5% to 97.5% of single (classifier, generated set) ratios",
    "n_yardstick": "size-matched yardstick: images a side (generated or training, against as many reference)",
    "n_yardstick_asked": "size-matched yardstick: images a side asked for (quality.n_yardstick), more than fit",
    "n_yardstick_note": "size-matched yardstick: why it is at fewer images than asked",
    "yardstick_splits": "size-matched yardstick: random draws of training and reference images",
    "fd_yardstick": "FD between two random halves of n real images each, mean over the splits (first classifier)",
    "fd_yardstick_std": "size-matched yardstick FD: standard deviation over the splits",
    "fd_ratio_matched": "FD / size-matched yardstick FD (first classifier): compare at the same n",
    "fd_ratio_matched_interval": "size-matched FD ratio: 95% bootstrap interval over the draws, yardstick included",
    "fd_inf": "FD extrapolated to infinitely many images a side (Chong and Forsyth 2020)",
    "fd_inf_slope": "FD extrapolation: slope in 1 / images",
    "fd_inf_se": "FD extrapolated: standard error of the fit's intercept",
    "fd_inf_real_halves_se": "real halves' FD extrapolated: standard error",
    "fd_inf_sizes": "FD extrapolation: the numbers of images a side it was fitted on",
    "fd_inf_real_halves": "FD of the real halves extrapolated to infinitely many images (about 0)",
    "precision_std": "precision: standard deviation over the generated sets",
    "recall_std": "recall: standard deviation over the generated sets",
    "precision_real_halves_std": "real halves' precision: standard deviation over the draws",
    "recall_real_halves_std": "real halves' recall: standard deviation over the draws",
    "pr_real_halves_draws": "real halves' precision and recall: random draws of training images",
    "classes": "class names",
    "class_fractions": "share of generated images in each class",
    "n_class_fractions": "generated images the class shares count",
    "min_class_fraction": "smallest class share",
    "classifier_accuracy": "classifier accuracy on the real reference images",
    "reference_class_fractions": "share of real reference images in each class (their labels)",
    "label_accuracy": "label accuracy: images drawn for a class that are that class",
    "label_accuracy_by_class": "label accuracy per class",
    "classifier_accuracy_by_class": "the classifier's accuracy on each class's real held-out images",
    "n_label_accuracy": "generated images the label accuracy counts",
    "class_shares_tv": "class shares: total variation to the real held-out images' (mean over generated sets)",
    "class_shares_tv_std": "... its standard deviation over the generated sets",
    "class_fractions_std": "share of generated images in each class: standard deviation over the sets",
    "class_shares_tv_real_halves": "real halves' class-share distance: predicted shares of n real images against "
                                   "the labels of n others",
    "class_shares_tv_real_halves_std": "... its standard deviation over the random splits",
    "class_fractions_real_halves": "share of n real images in each class, by the classifier (mean over splits)",
    "class_fractions_real_halves_std": "... its standard deviation over the splits",
    "n_class_shares_real_halves": "real images a side of the class-share yardstick",
    "class_shares_real_halves_splits": "random splits of the class-share yardstick",
}


# The kinds of value a ``quality`` dict holds besides numbers (int or float, or None).
TEXT_KEYS = {"generator", "feature_space", "reference", "fd_skipped", "kid_skipped", "pr_skipped",
             "kid_spread_skipped", "kid_real_halves_spread_skipped", "feature_weights_sha256",
             "feature_input_dtype", "fd_warning", "n_yardstick_note"}
NUMBER_LISTS = {"class_fractions", "reference_class_fractions", "label_accuracy_by_class", "fd_ratio_interval",
                "classifier_accuracy_by_class", "feature_input_shape", "fd_ratio_matched_interval", "fd_inf_sizes",
                "class_fractions_std", "class_fractions_real_halves", "class_fractions_real_halves_std"}
PAIRS = {"fd_ratio_interval", "fd_ratio_matched_interval"}  # [low, high]


def is_number(value: Any) -> bool:
    """An int or float as JSON holds it (not a bool)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def check_quality(q: dict[str, Any], where: str) -> dict[str, Any]:
    """``q`` if every score the page reads has its kind, else a `UserError` naming ``where`` and the key.

    A record is JSON from disk: a well-formed file may still hold a string where a
    score should be. Numbers may be NaN or infinite (they print as such).
    """
    for key, value in q.items():
        if key == "classes":
            ok = isinstance(value, list)
        elif key == "classifier_cached":
            ok = value is None or isinstance(value, bool)
        elif key in TEXT_KEYS:
            ok = value is None or isinstance(value, str)
        elif key in NUMBER_LISTS:
            ok = value is None or isinstance(value, list) and all(map(is_number, value)) and \
                (len(value) == 2 if key in PAIRS else len(value) > 0 or key == "fd_inf_sizes")
        else:
            ok = value is None or is_number(value)
        if not ok:
            raise UserError(f"{where}: quality.{key} is not what gankit writes there ({json.dumps(value)[:60]})")
    return q


def image_figures(config, summary: dict[str, Any]) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(figures, animations) of an image run as (file, caption), in the order the page shows them."""
    from gankit.engines.objectives import equilibrium
    from gankit.viz.pictures import class_columns

    who = summary.get("sampled_from", "G_ema" if config.train.ema > 0 else "G")
    drawn_by = "G_ema, the moving average of G's weights," if who == "G_ema" else "G"
    classes = summary.get("classes") or []
    k = config.model.n_classes if config.model.conditional else 0
    named = f" ({', '.join(map(str, classes))})" if classes else ""
    grid = (f"The last epoch's sample grid: images {drawn_by} drew from the same fixed noise after every epoch "
            "(the first is samples/epoch_0001.png).")
    walk = (f"Latent interpolation by {who}: each row walks from one random z to another along the sphere "
            "(slerp) in equal steps; smooth rows mean nearby noise gives nearby images, jumps or repeats a "
            "generator that collapsed or memorised.")
    if k:
        grid += (f" Conditional: column c holds class c mod {k}{named}." if class_columns(k, 64) else
                 f" Conditional: image i is drawn for class i mod {k}, reading row by row{named}.")
        walk += f" Each row keeps one class (row r: class r mod {k})."
    values = equilibrium(config.train.loss)
    if values is None:
        level = (f"The {config.train.loss} critic's losses have no level to mark (adding a constant to D "
                 "changes nothing); watch their trend, not their value.")
    else:
        level = (f"Dashed: where they sit when D cannot tell real from fake (D outputs 1/2: loss_D "
                 f"{values[0]:.3f}, loss_G {values[1]:.3f} under {config.train.loss}). Curves near their dashed "
                 "level mean D and G stay in balance; loss_D falling towards 0 while loss_G climbs means D has won and "
                 "G learns little.")
    losses = (f"Losses per example against the epoch (the mean over each epoch's batches). {level} "
              "They do not say how good the images are: the quality table does.")
    real = ("Real training images in the same layout, drawn at random"
            + (f" (column by column the same classes{named})" if k else "") + ": what the grid beside is "
            "trying to look like.")
    figures = [("samples.png", grid), ("real.png", real), ("interpolation.png", walk), ("losses.png", losses)]
    animations = [("training.gif", "The sample grid over training, one frame per epoch, each labelled with "
                                   "its epoch; the last frame lingers.")]
    return figures, animations


def _g(value: float, like: float | None = None) -> str:
    """``value`` to four significant digits, in fixed point; with ``like``, to as many decimals as ``like``
    gets (a spread beside its mean)."""
    ref = abs(value if like is None else like)
    decimals = 3 if ref == 0 or not math.isfinite(ref) else min(10, max(0, 3 - math.floor(math.log10(ref))))
    return f"{value:.{decimals}f}"


def _pct(value: float) -> str:
    return f"{100 * value:.1f}%"


# A cell: its text, and why the score is missing (or None).
Cell = tuple[str, str | None]
NOT_THERE: Cell = (DASH, None)
COLUMNS = ["This run", "Real halves", "Noise"]


def _score(q: dict[str, Any], key: str, fmt=_g, spread: str | None = None, skipped: str | None = None) -> Cell:
    """``q[key]`` formatted (± ``q[spread]``), or "–" with the reason in ``q[skipped]`` when it is None or absent."""
    value = q.get(key)
    if value is None:
        return DASH, q.get(skipped) if skipped else None
    if spread and q.get(spread) is not None:
        return f"{fmt(value)} \u00b1 {_g(q[spread], like=value)}", None
    return fmt(value), None


def _row(label: str, explain: str, *cells: Cell) -> str:
    """One score: its label and what it means, then a cell per column (each names its column, for the
    stacked layout of a narrow screen)."""
    tds = "".join(f'<td class="num" data-label="{column}">{html.escape(text)}'
                  + (f'<span class="skipped">skipped: {html.escape(why)}</span>' if why else "") + "</td>"
                  for column, (text, why) in zip(COLUMNS, cells))
    return f'<tr><th scope="row">{html.escape(label)}<span class="explain">{html.escape(explain)}</span></th>{tds}</tr>'


def _class_name(q: dict[str, Any], i: int) -> str:
    names = q.get("classes") or []
    return str(names[i]) if i < len(names) else str(i)


def _three(value: float) -> str:
    return f"{value:.3f}"


def _ratio(q: dict[str, Any]) -> str:
    """The FD ratio with its standard error and the 2.5-97.5% range of single ratios, where recorded."""
    text = _g(q["fd_ratio"])
    if q.get("fd_ratio_se") is not None:
        text += f" \u00b1 {_g(q['fd_ratio_se'])}"
    if q.get("fd_ratio_interval"):
        lo, hi = q["fd_ratio_interval"]
        text += f" [{_g(lo)}, {_g(hi)}]"
    return text


def headline_rows(q: dict[str, Any]) -> list[str]:
    """The headline table's rows: FD, its ratio, KID, precision, recall, and with classes the smallest class
    share and (conditional) the label accuracy, each as this run | real halves | noise."""
    rows = [
        _row("FD (Fréchet distance)",
             "Distance between Gaussian fits of the real and generated images' features; lower is better, "
             "0 for identical sets. \u00b1 the spread over the generated sets.",
             _score(q, "fd", spread="fd_std", skipped="fd_skipped"), _score(q, "fd_real_halves"),
             _score(q, "fd_noise")),
    ]
    if "fd_ratio" in q:
        halves, noise = q.get("fd_real_halves"), q.get("fd_noise")
        reason = q.get("fd_skipped") or ("the real halves' FD is 0" if halves == 0 else None)
        rows.append(_row("FD ratio", "This run's FD over the real halves' FD: how many times further from the "
                                     "real images than fresh real images are; lower is better, 1 is as good as "
                                     "real. \u00b1 its standard error; in brackets, the range of single "
                                     "(classifier, generated set) ratios.",
                         (DASH, reason) if q.get("fd_ratio") is None else (_ratio(q), None),
                         ("1", None) if halves else NOT_THERE,
                         (_g(noise / halves), None) if halves and noise is not None else NOT_THERE))
    if q.get("fd_ratio_matched") is not None:
        lo, hi = q["fd_ratio_matched_interval"]
        rows.append(_row(f"FD ratio at {q['n_yardstick']} a side",
                         f"FD over the FD between two random halves of {q['n_yardstick']} real images each, "
                         f"averaged over {q['yardstick_splits']} random splits (first classifier): the same number "
                         "of images in every comparison (all generated images, cut into sets of that size), so "
                         "scoring more images does not move it; compare runs at the same n. In brackets, a 95% "
                         "interval that carries the generated sets' and the yardstick's spread (not the reference "
                         "images' own)."
                         + (f" Note: {q['n_yardstick_note']}." if q.get("n_yardstick_note") else ""),
                         (f"{_g(q['fd_ratio_matched'])} [{_g(lo)}, {_g(hi)}]", None),
                         (f"1 (FD {_g(q['fd_yardstick'])}"
                          + (f" ± {_g(q['fd_yardstick_std'])})" if q.get("fd_yardstick_std") is not None
                             else ")"), None), NOT_THERE))
    if q.get("fd_inf") is not None:
        rows.append(_row("FD\u221e (any number of images)",
                         "FD extrapolated to infinitely many images a side (Chong and Forsyth 2020): FD at several "
                         "sizes, fitted as FD\u221e + c / N. It does not depend on how many images were scored; "
                         "about 0 for real against real. \u00b1 the fit's standard error: with a few hundred "
                         "images in a hundred features it is noisy.",
                         _score(q, "fd_inf", spread="fd_inf_se"),
                         _score(q, "fd_inf_real_halves", spread="fd_inf_real_halves_se"), NOT_THERE))
    rows += [
        _row("KID (kernel inception distance)",
             "An unbiased squared distance between the feature distributions (MMD\u00b2, cubic kernel); lower "
             "is better, about 0 for the same distribution (it can dip below 0). \u00b1 its standard error.",
             _score(q, "kid", spread="kid_se", skipped="kid_skipped"),
             _score(q, "kid_real_halves", spread="kid_real_halves_se"), NOT_THERE),
        _row("Precision", "Share of generated images that lie among real ones (look real); higher is better, "
                          "up to 1.",
             _score(q, "precision", fmt=_three, skipped="pr_skipped"),
             _score(q, "precision_real_halves", fmt=_three, spread="precision_real_halves_std") if "precision_real_halves" in q else NOT_THERE,
             NOT_THERE),
        _row("Recall", "Share of real images that lie among generated ones (are covered by G); higher is "
                       "better, up to 1. Real halves: n real images against n others, over random splits.",
             _score(q, "recall", fmt=_three, skipped="pr_skipped"),
             _score(q, "recall_real_halves", fmt=_three, spread="recall_real_halves_std") if "recall_real_halves" in q else NOT_THERE,
             NOT_THERE),
    ]
    shares = q.get("class_fractions")
    if shares:
        rarest = min(range(len(shares)), key=shares.__getitem__)
        real = q.get("reference_class_fractions")
        rows.append(_row("Smallest class share",
                         f"The rarest class among the generated images, by the classifier; {_pct(1 / len(shares))} "
                         f"when all {len(shares)} classes are drawn alike, near 0 when G misses one; higher is "
                         "better. Real: the held-out images' own labels.",
                         (f"{_pct(shares[rarest])} ({_class_name(q, rarest)})", None),
                         (_pct(min(real)), None) if real else NOT_THERE, NOT_THERE))
    if "label_accuracy" in q:
        rows.append(_row("Label accuracy",
                         "How often an image drawn for a class is classified as that class; higher is better. "
                         "Real: the classifier's accuracy on real held-out images, the most to expect.",
                         _score(q, "label_accuracy", fmt=_pct), _score(q, "classifier_accuracy", fmt=_pct),
                         NOT_THERE))
    return rows


def _sizes(q: dict[str, Any]) -> str:
    """The caption: what each column compares, and on how many images."""
    get = q.get
    parts = [f"{get('n_generated')} generated images per set against {get('n_reference')} real "
             f"{'held-out' if get('reference') == 'heldout' else get('reference')} images, in the "
             f"{get('feature_space')} feature space ({get('feature_dim')} features)",
             f"FD: mean over {get('fd_sets')} generated sets",
             f"KID: {get('kid_subsets')} random subsets of {get('kid_subset_size')} from "
             f"{get('n_kid_generated', DASH)} generated images",
             f"precision and recall: the first set, k = {get('pr_k') if get('pr_k') is not None else DASH}"]
    if "fd_real_halves" in q:
        parts.append(f"real halves: the {get('n_train')} training images against the reference ones, the best a "
                     "generator could be expected to reach")
    else:
        parts.append("no held-out split, so no real-halves baseline")
    parts.append(f"noise: {get('n_noise')} images of uniform noise, the worst")
    if "n_class_fractions" in q:
        parts.append(f"class shares: {get('n_class_fractions')} generated images")
    return "; ".join(parts) + f". {DASH}: not computed."


def headline_table(q: dict[str, Any], scored: str = "") -> str:
    """The headline: each score beside its real-halves and noise baselines, sample sizes in a note below.

    Args:
        q: a ``quality`` dict (`gankit.metrics.images.evaluate_images`).
        scored: what was scored, opening the caption (e.g. "G_ema at the end of training").
    """
    head = '<tr><th scope="col">Score</th>' + "".join(f'<th scope="col">{c}</th>' for c in COLUMNS) + "</tr>"
    caption = (scored + ". " if scored else "") + _sizes(q)
    return (f'<div class="scroll"><table class="headline">{head}' + "".join(headline_rows(q)) + "</table></div>"
            f'<p class="note sizes">{html.escape(caption)}</p>')


def class_table(q: dict[str, Any]) -> str:
    """Generated vs real share per class by name, with a bar; the label accuracy per class for a conditional G."""
    shares = q.get("class_fractions")
    if not shares:
        return ""
    real = q.get("reference_class_fractions") or []
    by_class = q.get("label_accuracy_by_class") or []
    spread = q.get("class_fractions_std") or []
    halves, halves_spread = q.get("class_fractions_real_halves") or [], q.get("class_fractions_real_halves_std") or []
    head = ("<tr><th>Class</th><th>Generated</th>" + ("<th>Real held-out</th>" if real else "")
            + (f"<th>{q.get('n_class_shares_real_halves', DASH)} real images</th>" if halves else "")
            + ("<th>Label accuracy</th>" if by_class else "") + "</tr>")
    widest = max(shares) or 1.0
    body = ""

    def pm(values: list, spreads: list, i: int) -> str:
        return _pct(values[i]) + (f" ± {_pct(spreads[i])}" if i < len(spreads) else "")

    for i, share in enumerate(shares):
        bar = f'<span class="bar" style="width:{3 * share / widest:.2f}em"></span>'
        body += (f"<tr><th>{html.escape(_class_name(q, i))}</th><td class=\"num\">{pm(shares, spread, i)}{bar}</td>"
                 + (f'<td class="num">{_pct(real[i])}</td>' if i < len(real) else "<td></td>" if real else "")
                 + (f'<td class="num">{pm(halves, halves_spread, i)}</td>' if i < len(halves) else
                    "<td></td>" if halves else "")
                 + (f'<td class="num">{_pct(by_class[i])}</td>' if i < len(by_class) else
                    "<td></td>" if by_class else "") + "</tr>")
    caption = (f"Share of the {q.get('n_class_fractions', DASH)} generated images the classifier puts in each "
               "class" + (", beside the real held-out images' labels" if real else "")
               + (f"; the classifier is right on {_pct(q['classifier_accuracy'])} of real held-out images"
                  if q.get("classifier_accuracy") is not None else "") + ".")

    def value(key: str) -> str:  # a distance with its spread, when it has one
        spread = q.get(f"{key}_std")
        return f"{q[key]:.3f}" + (f" ± {spread:.3f}" if is_number(spread) else "")

    if is_number(q.get("class_shares_tv")):
        caption += f" Total variation to the real shares: {value('class_shares_tv')}"
        if is_number(q.get("class_shares_tv_real_halves")):
            caption += (f", against {value('class_shares_tv_real_halves')} for real images of that number "
                        "(predicted on one half, labelled on the other)")
        caption += "."
    return (f'<div class="scroll"><table class="classes">{head}{body}</table></div>'
            f'<p class="note sizes">{html.escape(caption)}</p>')


def warnings_list(warnings: list[dict[str, Any]]) -> str:
    """The run's health warnings (``summary.json``'s ``warnings``), each with its epoch and suggested fix."""
    if not warnings:
        return ""
    items = "".join(f"<li>{html.escape(str(w.get('message', w)))} (epoch {html.escape(str(w.get('epoch', '?')))})"
                    + (f"; try: {html.escape(str(w['fix']))}" if w.get("fix") else "") + "</li>"
                    for w in warnings)
    return f"<p><strong>Health warnings during training</strong></p><ul>{items}</ul>"


__all__ = ["IMAGE_CSS", "QUALITY_LABELS", "check_quality", "is_number", "class_table", "headline_rows", "headline_table", "image_figures",
           "warnings_list"]
