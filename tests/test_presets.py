import pytest

from gankit.config import Config
from gankit.errors import UserError
from gankit.presets import PRESETS, resolve_config


def test_auto_preset_for_dcgan_under_the_users_settings():
    config, preset = resolve_config(None, ["data.source=digits", "model.generator=dcgan",
                                           "model.discriminator=dcgan", "train.epochs=3"])
    assert preset == "dcgan"
    assert config.train.epochs == 3  # the user's value wins over the preset's
    assert config.train.lr_g == 5e-4 and config.train.beta1 == 0.5 and config.train.batch_size == 32
    assert config.data.holdout == 0.5 and config.train.ema > 0


def test_points_get_no_preset_and_none_disables_it():
    config, preset = resolve_config(None, [])
    assert preset is None and config.to_dict() == Config().to_dict()  # the chapter's defaults, untouched
    config, preset = resolve_config(None, ["model.generator=dcgan", "model.discriminator=dcgan"], "none")
    assert preset is None and config.train.lr_g == Config().train.lr_g


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_is_valid(name):
    config, preset = resolve_config(None, [] if name == "chapter-plus" else ["data.source=digits"], name)
    assert preset == name and config.model.generator == PRESETS[name]["model"].get("generator", "linear")


def test_wgan_gp_preset_and_unknown():
    config, _ = resolve_config(None, [], "wgan-gp")
    assert (config.train.loss, config.train.penalty, config.train.n_critic) == ("wgan", "gp", 5)
    with pytest.raises(UserError, match="unknown preset"):
        resolve_config(None, [], "stylegan9")


def test_chapter_plus_is_the_recipe_its_page_reports_and_runs_on_the_fast_path(tmp_path):
    import json
    from pathlib import Path

    from gankit.cli import main
    from gankit.presets import preset_config

    page = (Path(__file__).resolve().parents[1] / "docs" / "chapter-plus.md").read_text()
    config = preset_config("chapter-plus")
    listed = {line[3:-1] for line in page.splitlines() if line.startswith("- `") and " = " in line}
    ours = {f"{s}.{k} = {v}" for s, values in config.to_dict().items() for k, v in values.items()
            if v != getattr(getattr(Config(), s), k)}
    assert listed == ours and len(ours) == 9
    out = tmp_path / "run"
    assert main(["train", "--preset", "chapter-plus", "--epochs", "2", "--out", str(out), "--no-plots",
                 "--quiet"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["engine"] == "fast" and summary["sampled_from"] == "G_ema"


def test_auto_preset_for_resnet_is_sngans_recipe():
    config, preset = resolve_config(None, ["data.source=digits", "model.generator=resnet",
                                           "model.discriminator=resnet", "model.g_width=16"])
    assert preset == "resnet" and config.model.g_width == 16  # the user's width over the preset's
    t = config.train
    assert (t.loss, t.lr_d, t.lr_g, t.beta1, t.beta2) == ("hinge", 2e-4, 2e-4, 0.0, 0.9)
    assert config.model.spectral_norm and t.n_critic >= 1 and t.ema > 0
