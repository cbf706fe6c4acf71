import math

import numpy as np
import pytest
import torch

from gankit import streams
from gankit.data.points import Dataset
from gankit.metrics.features import data_key, extract, load_or_train_classifier, rotations
from gankit.metrics.images import (
    class_fractions,
    evaluate_images,
    feature_fd,
    format_quality,
    generate,
    kid,
    mmd2_unbiased,
    precision_recall,
)


def _normal(n, d, seed, shift=0.0):
    return torch.randn(n, d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64) + shift


def test_fd_zero_on_itself_and_closed_form_for_a_shift():
    a = _normal(400, 5, 0)
    assert feature_fd(a, a) == pytest.approx(0.0, abs=1e-9)
    shift = torch.tensor([1.0, 2.0, 0.0, 0.0, 0.0], dtype=torch.float64)
    assert feature_fd(a, a + shift) == pytest.approx(5.0, rel=1e-6)  # |shift|^2, same covariance
    assert feature_fd(a, 2 * a) > 1.0


def test_mmd_unbiased_centres_on_zero_and_detects_a_shift():
    values = [mmd2_unbiased(_normal(60, 4, s), _normal(60, 4, 100 + s)) for s in range(30)]
    mean, se = sum(values) / 30, torch.tensor(values).std().item() / 30 ** 0.5
    assert abs(mean) < 3 * se  # unbiased: no positive offset on equal distributions
    assert min(values) < 0 < max(values)
    shifted = mmd2_unbiased(_normal(60, 4, 0), _normal(60, 4, 1, shift=1.0))
    assert shifted > 10 * max(abs(mean), se)


def test_mmd_by_hand_on_two_points():
    x, y = torch.tensor([[1.0], [0.0]]), torch.tensor([[2.0], [1.0]])
    k = lambda a, b: (a * b + 1) ** 3  # d = 1
    xx = 2 * k(1, 0) / 2
    yy = 2 * k(2, 1) / 2
    xy = (k(1, 2) + k(1, 1) + k(0, 2) + k(0, 1)) / 4
    assert mmd2_unbiased(x, y) == pytest.approx(xx + yy - 2 * xy)


def test_kid_reports_subsets_and_error():
    out = kid(_normal(80, 4, 0), _normal(50, 4, 1, shift=0.5), subsets=10, subset_size=100)
    assert out["kid_subset_size"] == 50 and out["kid_subsets"] == 10
    assert out["kid"] > 0 and out["kid_se"] == pytest.approx(out["kid_std"] / 10 ** 0.5)


def test_kid_of_two_sets_no_larger_than_a_subset_is_one_value_without_a_spread():
    """50 images a side in subsets of 500: every subset is both sets whole, so no "+- 0.000000"."""
    a, b = _normal(50, 4, 0), _normal(50, 4, 1, shift=0.5)
    whole = kid(a, b, subsets=10, subset_size=500)
    assert whole["kid"] == pytest.approx(mmd2_unbiased(a, b))
    assert whole["kid_se"] is None and whole["kid_std"] is None and whole["kid_subsets"] == 1
    assert "both sets whole" in whole["kid_spread_skipped"]
    quality = {"feature_space": "classifier", "feature_dim": 4, "n_generated": 50, "n_reference": 50,
               "reference": "heldout", "fd": 1.0, "fd_std": 0.1, "fd_sets": 1, "precision": 0.5, "recall": 0.5,
               "pr_k": 3}
    assert "no spread: all of both" in format_quality({**quality, **whole})
    assert "+- " in format_quality({**quality, **kid(a, b, subsets=10, subset_size=40)}).splitlines()[2]
    split = kid(a, b, subsets=10, subset_size=40)  # subsets that differ do have a spread
    assert split["kid_se"] > 0 and "kid_spread_skipped" not in split


def test_precision_recall_extremes_and_a_collapsed_generator():
    real = _normal(200, 3, 0)
    same = precision_recall(real=real, generated=real.clone())
    assert same["precision"] == 1.0 and same["recall"] == 1.0
    far = precision_recall(real=real, generated=_normal(200, 3, 1, shift=50.0))
    assert far["precision"] == 0.0 and far["recall"] == 0.0
    collapsed = real[:20].repeat(10, 1) + 1e-3 * _normal(200, 3, 2)  # fakes on 20 real points only
    pr = precision_recall(real=real, generated=collapsed)
    assert pr["precision"] > 0.9 and pr["recall"] < 0.5


def test_class_fractions():
    assert class_fractions(torch.tensor([0, 0, 2, 1]), 4) == [0.5, 0.25, 0.25, 0.0]


def test_rotations_task():
    x = torch.arange(4.0).reshape(1, 1, 2, 2)
    rotated, k = rotations(x)
    assert rotated.shape == (4, 1, 2, 2) and k.tolist() == [0, 1, 2, 3]
    assert torch.equal(rotated[2, 0], torch.tensor([[3.0, 2.0], [1.0, 0.0]]))


class Copier(torch.nn.Module):
    """A 'generator' that returns training images: its quality is the real baseline's."""

    def __init__(self, images):
        super().__init__()
        self.images = images

    def forward(self, z):
        return self.images[torch.arange(len(z)) % len(self.images)]


def _blob_dataset(n=64):
    from imagefixtures import blobs

    raw, labels = blobs(n, 8, seed=3)
    x = torch.from_numpy(raw / 127.5 - 1).float()[:, None]
    y = torch.from_numpy(labels)
    return Dataset(x[: n // 2], x[n // 2:], None, "blobs", labels=y[: n // 2], heldout_labels=y[n // 2:],
                   classes=["0", "1"])


def test_evaluate_images_copier_beats_noise_and_classifier_is_cached(tmp_path):
    ds = _blob_dataset()
    good = evaluate_images(Copier(ds.train), ds, latent_dim=2, cache_dir=tmp_path, kid_subsets=5)
    assert good["classifier_cached"] is False
    assert good["n_generated"] == good["n_reference"] == 32 and good["n_train"] == 32
    assert good["fd"] == pytest.approx(good["fd_real_halves"], rel=1e-6)  # it *is* the training set
    assert good["fd_ratio"] == pytest.approx(1.0, rel=1e-6)
    assert good["fd_sets"] == 5 and good["fd_std"] == pytest.approx(0.0, abs=1e-9)  # every set is the same copy
    assert good["n_kid_generated"] == good["n_class_fractions"] == 5 * 32
    assert good["fd_noise"] > 5 * good["fd"]
    assert good["class_fractions"] == [0.5, 0.5] and good["classifier_accuracy"] == 1.0
    one_class = Copier(ds.train[ds.labels == 1])
    bad = evaluate_images(one_class, ds, latent_dim=2, cache_dir=tmp_path, kid_subsets=5)
    assert bad["classifier_cached"] is True  # same data hash: loaded, not retrained
    assert bad["class_fractions"] == [0.0, 1.0] and bad["min_class_fraction"] == 0.0
    assert bad["fd"] > good["fd"] and bad["recall"] < good["recall"]
    assert len(list((tmp_path / "classifiers").glob("*.safetensors"))) == 3  # quality.classifiers, seeds 0-2


def test_fd_and_its_ratio_are_means_over_classifier_seeds(tmp_path):
    """FD in each classifier's space by hand, for seeds 0-2, then their means: what evaluate_images reports."""
    ds = _blob_dataset()
    G = Copier(ds.train[ds.labels == 1])  # a poor generator: one class only
    fake = generate(G, 32 * 2, 2, streams.seed(0, "quality.fake"))
    by_hand = []
    for c in range(3):
        net, _ = load_or_train_classifier(ds.train, ds.labels, tmp_path, seed=c)
        f_ref, f_train, f_fake = (extract(net, x)[0] for x in (ds.heldout, ds.train, fake))
        fds = [feature_fd(f_fake[i * 32:(i + 1) * 32], f_ref) for i in range(2)]
        by_hand.append((sum(fds) / 2, feature_fd(f_train, f_ref)))
    one = evaluate_images(G, ds, latent_dim=2, cache_dir=tmp_path, kid_subsets=2, fd_sets=2, classifiers=1)
    three = evaluate_images(G, ds, latent_dim=2, cache_dir=tmp_path, kid_subsets=2, fd_sets=2, classifiers=3)
    assert one["fd"] == pytest.approx(by_hand[0][0], rel=1e-6) and one["fd_feature_spaces"] == 1
    assert three["fd"] == pytest.approx(sum(f for f, _ in by_hand) / 3, rel=1e-6)
    assert three["fd_real_halves"] == pytest.approx(sum(h for _, h in by_hand) / 3, rel=1e-6)
    assert three["fd_ratio"] == pytest.approx(sum(f / h for f, h in by_hand) / 3, rel=1e-6)
    assert three["fd_ratio"] != pytest.approx(one["fd_ratio"], rel=1e-3)  # the seeds' spaces differ
    lo, hi = three["fd_ratio_interval"]
    assert lo < three["fd_ratio"] < hi and three["fd_ratio_se"] > 0
    # KID, precision/recall and the class shares stay in the first classifier's space.
    assert (three["kid"], three["recall"], three["class_fractions"]) == (one["kid"], one["recall"], one["class_fractions"])


def test_classifier_cache_key_depends_on_the_data(tmp_path):
    ds = _blob_dataset()
    assert data_key(ds.train, ds.labels) == data_key(ds.train.clone(), ds.labels.clone())
    assert data_key(ds.train, ds.labels) != data_key(ds.train * 0.5, ds.labels)
    assert data_key(ds.train, ds.labels) != data_key(ds.train, None)
    net, cached = load_or_train_classifier(ds.train, None, tmp_path)  # unlabelled: rotation classes
    assert not cached and net.head.out_features == 4


class MeanColour(torch.nn.Module):
    """A feature network of our own: each image's mean and spread per channel, plus its quadrant means."""

    name = "mean-colour"

    def forward(self, x):
        b, c = x.shape[:2]
        quads = torch.nn.functional.adaptive_avg_pool2d(x, 2).flatten(1)  # (B, 4C)
        return torch.cat([x.mean((2, 3)), x.std((2, 3)), quads], 1)[:, :, None, None]  # (B, 6C, 1, 1)


def test_any_feature_network_can_be_passed(tmp_path):
    ds = _blob_dataset()
    ds_unlabelled = Dataset(ds.train, ds.heldout, None, "blobs")
    net = MeanColour()
    net.train()
    good = evaluate_images(Copier(ds.train), ds_unlabelled, latent_dim=2, cache_dir=tmp_path, kid_subsets=5,
                           features=net)
    assert net.training  # its mode is restored
    assert good["feature_space"] == "mean-colour" and good["feature_dim"] == 6
    assert good["classifier_cached"] is None and not (tmp_path / "classifiers").exists()  # nothing trained
    assert good["fd"] == pytest.approx(good["fd_real_halves"], rel=1e-6) and "class_fractions" not in good
    bad = evaluate_images(Copier(ds.train[ds.labels == 1]), ds_unlabelled, latent_dim=2, kid_subsets=5,
                          features=net)
    assert bad["fd"] > 2 * good["fd"] and bad["recall"] < good["recall"] and good["fd_noise"] > good["fd"]
    # with labels, the classes still come from gankit's classifier, the distances from the network given
    labelled = evaluate_images(Copier(ds.train), ds, latent_dim=2, cache_dir=tmp_path, kid_subsets=5, features=net)
    default = evaluate_images(Copier(ds.train), ds, latent_dim=2, cache_dir=tmp_path, kid_subsets=5)
    assert labelled["class_fractions"] == default["class_fractions"] == [0.5, 0.5]
    assert labelled["feature_dim"] == 6 and default["feature_dim"] == 64 and labelled["fd"] != default["fd"]


def test_a_feature_network_that_misbehaves_is_a_user_error():
    from gankit.errors import UserError

    class Broken(torch.nn.Module):
        def forward(self, x):
            return x.flatten(1) * float("nan")

    ds = _blob_dataset()
    with pytest.raises(UserError, match="non-finite"):
        evaluate_images(Copier(ds.train), Dataset(ds.train, ds.heldout, None, "b"), latent_dim=2, features=Broken())


# ---- issue 23 item 3: numerics that hold ------------------------------------------------------------

def test_the_same_images_in_batches_of_1_7_and_500_give_the_same_statistics():
    from gankit.metrics.gaussian import gaussian_fit
    from gankit.metrics.images import embed_images

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(1, 8, 3), torch.nn.BatchNorm2d(8), torch.nn.ReLU(),
                              torch.nn.Flatten(), torch.nn.Linear(8 * 6 * 6, 16))
    images = torch.rand(60, 1, 8, 8, generator=torch.Generator().manual_seed(1)) * 2 - 1
    fits = [gaussian_fit(embed_images(net, images, batch_size=b)) for b in (1, 7, 500)]
    # The features are float32 per batch (a batch size may pick another kernel: an ulp apart); the
    # statistics accumulate in float64, exactly rounded, so they differ by no more than that.
    scale = fits[0][1].abs().max()
    for mean, cov in fits[1:]:
        assert (mean - fits[0][0]).abs().max() <= 1e-6 * fits[0][0].abs().max()
        assert (cov - fits[0][1]).abs().max() <= 1e-6 * scale
    assert fits[0][0].dtype == torch.float64 and fits[0][1].dtype == torch.float64
    assert feature_fd(embed_images(net, images, 1), embed_images(net, images, 500)) < 1e-9
    assert feature_fd(embed_images(net, images[:30], 7), embed_images(net, images[30:], 7)) > 1e-3  # the control


def test_fewer_images_than_features_is_a_warning_with_the_numbers_never_a_complex_fd():
    from gankit.metrics.images import few_images_note

    a, b = _normal(10, 64, 0), _normal(10, 64, 1, shift=0.1)  # rank 9 covariances in 64 dimensions
    fd = feature_fd(a, b)
    assert isinstance(fd, float) and math.isfinite(fd) and fd > 0
    note = few_images_note(10, 12, 64)["fd_warning"]
    assert "10 generated and 12 reference images in 64 features" in note and "at least 64 images" in note
    assert few_images_note(64, 100, 64) == {}


def test_precision_and_recall_take_their_sets_by_keyword_only():
    real, generated = _normal(30, 3, 0), _normal(30, 3, 1, shift=3.0)
    with pytest.raises(TypeError):
        precision_recall(real, generated)
    collapsed = real[:1] + 1e-3 * _normal(10, 3, 2)  # a generator that draws one real image, again and again
    one = precision_recall(real=real, generated=collapsed)
    assert one["precision"] == 1.0 and one["recall"] < 0.2  # swapped, these would swap
    swapped = precision_recall(real=collapsed, generated=real)  # the control: what the swap reads
    assert swapped["precision"] < 0.2 and swapped["recall"] == 1.0


def test_the_scores_record_their_feature_network(tmp_path):
    from gankit.metrics.images import weights_hash

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 4))
    digest = weights_hash(net)
    assert len(digest) == 64 and digest == weights_hash(net)
    images = torch.rand(16, 1, 8, 8, generator=torch.Generator().manual_seed(0)) * 2 - 1
    G = torch.nn.Sequential(torch.nn.Linear(8, 64), torch.nn.Tanh(), torch.nn.Unflatten(1, (1, 8, 8)))
    q = evaluate_images(G, Dataset(images[:10], images[10:], None, "sixteen"), 8, fd_sets=2, kid_subsets=2,
                        features=net, cache_dir=str(tmp_path))
    assert q["feature_weights_sha256"] == digest and q["feature_input_shape"] == [1, 8, 8]
    assert q["feature_input_dtype"] == "float32" and (q["n_generated"], q["n_reference"]) == (6, 6)
    assert "fd_warning" not in q  # 6 images a side in 4 features
    with torch.no_grad():
        net[1].bias[0] += 1e-6
    assert weights_hash(net) != digest  # one weight's last bits change the hash
    wide = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 16))
    q = evaluate_images(G, Dataset(images[:10], images[10:], None, "sixteen"), 8, fd_sets=2, kid_subsets=2,
                        features=wide, cache_dir=str(tmp_path))
    assert "6 generated and 6 reference images in 16 features" in q["fd_warning"]
    assert math.isfinite(q["fd"]) and q["fd"] >= 0


def _normal_features(rng, n, d=16, shift=0.0):
    x = rng.normal(size=(n, d))
    x[:, 0] += shift
    return torch.from_numpy(x)


def test_the_size_matched_ratio_does_not_drift_when_the_pool_of_reference_images_doubles():
    """450 images a side out of 450 or 900 reference images, over six data sets: the ratio moves by the
    reference images' own noise (0.1 on average), not by FD's bias for sample size. The control, letting
    n follow the pool (900 a side), moves it by 0.57 or more every time, as the issue measured in
    pixels. The interval does not carry the reference noise (see `fd_yardstick`): with 450 reference
    images every set is compared with the same ones."""
    from gankit.metrics.images import fd_yardstick

    moves, drifts = [], []
    for seed in range(1, 7):
        rng = np.random.default_rng(seed)
        fake, train, reference = (_normal_features(rng, 10 * 900, shift=0.5), _normal_features(rng, 900),
                                  _normal_features(rng, 900))
        small = fd_yardstick(fake[:10 * 450], train, reference[:450], 450, seed=1, splits=200)
        large = fd_yardstick(fake[:10 * 450], train, reference, 450, seed=1, splits=200)
        doubled = fd_yardstick(fake, train, reference, 900, seed=1, splits=200)
        assert small["n_yardstick"] == large["n_yardstick"] == 450 and small["yardstick_splits"] == 200
        lo, hi = large["fd_ratio_matched_interval"]
        assert lo < large["fd_ratio_matched"] < hi and hi - lo < 0.5 and lo > 1.1  # an interval that says something
        moves.append(abs(small["fd_ratio_matched"] - large["fd_ratio_matched"]))
        drifts.append(doubled["fd_ratio_matched"] - large["fd_ratio_matched"])
    assert sum(moves) / len(moves) < 0.2 and min(drifts) > 0.4  # the control
    assert fd_yardstick(fake, train, reference, 900, seed=1)["yardstick_splits"] == 10  # default: one a set


def test_the_reported_ratio_holds_when_the_generated_images_double():
    """Five sets of 450 or five of 900 generated images, reported at a fixed 400 a side: the larger run is
    cut into eleven sets of 400, not scored at 900, so the ratio stays within its interval (and the interval
    narrows). The control, the ratio at as many images a side as each set, moves far outside it."""
    from gankit.metrics.images import fd_yardstick

    rng = np.random.default_rng(2)
    fake, train, reference = (_normal_features(rng, 5 * 900, shift=0.5), _normal_features(rng, 900),
                              _normal_features(rng, 900))
    small = fd_yardstick(fake[:5 * 450], train, reference, 400, seed=2, splits=20)
    large = fd_yardstick(fake, train, reference, 400, seed=2, splits=20)
    assert small["n_yardstick"] == large["n_yardstick"] == 400
    lo, hi = small["fd_ratio_matched_interval"]
    assert lo < large["fd_ratio_matched"] < hi
    assert large["fd_ratio_matched_interval"][0] < small["fd_ratio_matched"] < large["fd_ratio_matched_interval"][1]
    assert hi - lo > large["fd_ratio_matched_interval"][1] - large["fd_ratio_matched_interval"][0]
    follows_450 = fd_yardstick(fake[:5 * 450], train, reference, 450, seed=2, splits=20)
    follows_900 = fd_yardstick(fake, train, reference, 900, seed=2, splits=20)
    assert follows_900["fd_ratio_matched"] > follows_450["fd_ratio_matched_interval"][1] + 0.2  # the control


def test_evaluate_images_reports_its_ratio_at_quality_n_yardstick(tmp_path):
    """The headline ratio is at ``n_yardstick`` images a side when they fit; fewer when they do not, said
    in a note (and on the console); 0 follows the generated set's size."""
    ds = _blob_dataset(200)  # 100 training and 100 held-out images
    G = Copier(ds.train[ds.labels == 1])
    fixed = evaluate_images(G, ds, latent_dim=2, cache_dir=tmp_path, kid_subsets=2, n=80, n_yardstick=40)
    assert fixed["n_yardstick"] == 40 and "n_yardstick_note" not in fixed
    doubled = evaluate_images(G, ds, latent_dim=2, cache_dir=tmp_path, kid_subsets=2, n=40, n_yardstick=40)
    assert doubled["n_yardstick"] == 40
    follows = evaluate_images(G, ds, latent_dim=2, cache_dir=tmp_path, kid_subsets=2, n=80, n_yardstick=0)
    assert follows["n_yardstick"] == 80 and "n_yardstick_note" not in follows
    short = evaluate_images(G, ds, latent_dim=2, cache_dir=tmp_path, kid_subsets=2, n=30, n_yardstick=400)
    assert short["n_yardstick"] == 30 and short["n_yardstick_asked"] == 400
    assert "at 30 images a side, not the 400 asked" in short["n_yardstick_note"]
    assert "note: the size-matched ratio is at 30" in format_quality(short)


def test_fd_infinity_removes_the_bias_for_sample_size():
    """N(0, I) against a mean shifted by 0.5 in 16-D: FD is 0.25 with infinitely many images, far more at 900."""
    from gankit.metrics.images import fd_infinity

    rng = np.random.default_rng(1)
    fake, train, reference = (_normal_features(rng, 900, shift=0.5), _normal_features(rng, 900),
                              _normal_features(rng, 900))
    fd_900 = feature_fd(fake, reference)
    generated = fd_infinity(fake, reference, seed=3)
    assert abs(fd_900 - 0.25) > 0.1  # the control: the plain FD is biased by more than 0.1
    assert abs(generated["fd_inf"] - 0.25) < 0.5 * abs(fd_900 - 0.25)
    assert generated["fd_inf_sizes"][0] == 225 and generated["fd_inf_sizes"][-1] == 900
    assert 0 < generated["fd_inf_se"] < 0.1
    real = fd_infinity(train, reference, seed=3)
    assert abs(real["fd_inf"]) < 0.3 * feature_fd(train, reference)  # real against real: about 0


def test_class_shares_carry_a_real_halves_yardstick_with_its_spread(tmp_path):
    """A copier of the training images lands within the real halves' spread of class-share distance; a
    generator of one class lands far outside it (total variation 0.5 against a few hundredths)."""
    ds = _blob_dataset(200)
    good = evaluate_images(Copier(ds.train), ds, latent_dim=2, cache_dir=tmp_path, kid_subsets=2, n=50)
    assert good["n_class_shares_real_halves"] == 50 and good["class_shares_real_halves_splits"] == 200
    real, spread = good["class_shares_tv_real_halves"], good["class_shares_tv_real_halves_std"]
    assert 0 < real < 0.2 and spread > 0  # n = 50 real images miss the true shares by a few points
    assert len(good["class_fractions_real_halves"]) == len(good["class_fractions_real_halves_std"]) == 2
    assert good["class_shares_tv"] < real + 3 * spread
    bad = evaluate_images(Copier(ds.train[ds.labels == 1]), ds, latent_dim=2, cache_dir=tmp_path, kid_subsets=2, n=50)
    assert bad["class_shares_tv"] == pytest.approx(0.5, abs=0.05)  # all of one of two equal classes
    assert bad["class_shares_tv"] > bad["class_shares_tv_real_halves"] + 3 * bad["class_shares_tv_real_halves_std"]
    assert "real halves" in format_quality(bad).split("class shares: ")[1]


def test_the_class_share_yardstick_by_hand():
    from gankit.metrics.images import class_share_yardstick

    fake = torch.tensor([0, 0, 0, 1] * 2)  # two sets of 4: 75% class 0 each
    real_pred = torch.tensor([0, 1] * 8)
    out = class_share_yardstick(fake, 4, 2, real_pred, real_pred, torch.tensor([0, 1, 0, 1]), 2, seed=0)
    assert out["class_shares_tv"] == pytest.approx(0.25) and out["class_shares_tv_std"] == pytest.approx(0.0)
    assert out["class_fractions_std"] == [0.0, 0.0]
    assert 0 <= out["class_shares_tv_real_halves"] <= 0.5 and out["n_class_shares_real_halves"] == 4
