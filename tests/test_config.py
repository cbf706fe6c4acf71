import json

import pytest

from gankit.config import Config, load_config
from gankit.errors import UserError


def test_defaults_are_the_chapters():
    c = Config()
    assert (c.train.lr_d, c.train.lr_g, c.train.batch_size, c.train.epochs) == (0.05, 0.005, 8, 20)
    assert (c.model.latent_dim, c.model.init_std, c.train.loss) == (2, 0.02, "nonsaturating")
    assert (c.train.beta1, c.train.beta2) == (0.9, 0.999)
    assert c.data.transform == [[1.0, 2.0], [-0.1, 0.5]] and c.data.mean == [1.0, 2.0] and c.data.n == 1000


def test_file_then_overrides(tmp_path):
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"train": {"lr_d": 0.1, "epochs": 3}, "model": {"d_hidden": [4]}}))
    c = load_config(path, ["train.epochs=5", "lr_g=0.001", "g_hidden=[7, 7]"])
    assert (c.train.lr_d, c.train.epochs, c.train.lr_g) == (0.1, 5, 0.001)
    assert c.model.d_hidden == [4] and c.model.g_hidden == [7, 7]


def test_round_trip(tmp_path):
    c = load_config(None, ["train.seed=9", "data.n=50"])
    c.save(tmp_path / "c.json")
    assert Config.from_dict(json.loads((tmp_path / "c.json").read_text())) == c


@pytest.mark.parametrize(
    "override,message",
    [
        (["train.lr_d=-0.1"], r"train.lr_d must be a positive number, got -0.1"),
        (["lr_g=0"], r"train.lr_g must be a positive number"),
        (["lr_d=1e38"], r"train.lr_d is too large: 1e\+38 / \(1 - beta1\) overflows float32"),
        (["train.loss=wasserstein"], r"unknown loss 'wasserstein'"),
        (["model.generator=stylegan"], r"unknown generator 'stylegan'"),
        (["model.discriminator=big"], r"unknown discriminator 'big'"),
        (["train.bogus=1"], r"unknown config key 'train.bogus'"),
        (["bogus=1"], r"unknown config key 'bogus'"),
        (["train.epochs=two"], r"train.epochs must be int, got 'two'"),
        (["train.epochs=0"], r"train.epochs must be at least 1"),
        (["train.batch_size=2.5"], r"train.batch_size must be int"),
        (["epochs"], r"must look like key=value"),
        (["data.mean=[1,2,3]"], r"data.transform must be a 3x3 matrix"),
    ],
)
def test_invalid_values_are_user_errors(override, message):
    with pytest.raises(UserError, match=message):
        load_config(None, override)


def test_bad_files(tmp_path):
    with pytest.raises(UserError, match="config file not found"):
        load_config(tmp_path / "nope.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(UserError, match="not valid JSON"):
        load_config(tmp_path / "bad.json")
    (tmp_path / "unknown.json").write_text('{"train": {"lr": 1}}')
    with pytest.raises(UserError, match="unknown config key 'train.lr'"):
        load_config(tmp_path / "unknown.json")
    (tmp_path / "section.json").write_text('{"optim": {}}')
    with pytest.raises(UserError, match="unknown config section 'optim'"):
        load_config(tmp_path / "section.json")


def _every_field():
    import dataclasses

    config = Config()
    for section in dataclasses.fields(config):
        for f in dataclasses.fields(getattr(config, section.name)):
            yield section.name, f


def test_every_field_declares_a_constraint():
    fields = list(_every_field())
    assert len(fields) > 35
    assert all("constraint" in f.metadata for _, f in fields)


@pytest.mark.parametrize("section,name", [(s, f.name) for s, f in _every_field()])
def test_every_invalid_value_of_every_field_is_one_clear_line(section, name):
    import dataclasses

    from gankit.config.constraints import Options

    (f,) = [f for s, f in _every_field() if (s, f.name) == (section, name)]
    constraint = f.metadata["constraint"]
    bad_values = constraint.invalid()
    assert bad_values
    for bad in bad_values:
        config = Config()
        setattr(getattr(config, section), name, bad)
        expected = f"unknown {constraint.what}" if isinstance(constraint, Options) else f"{section}.{name} must be"
        with pytest.raises(UserError, match=expected) as err:
            config.validate()
        assert "\n" not in str(err.value)
    # The other side: the default value is accepted by the same check.
    assert constraint.holds(getattr(getattr(Config(), section), name))
    assert dataclasses.is_dataclass(getattr(Config(), section))
