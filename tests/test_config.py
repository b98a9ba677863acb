import pytest

from neurodeploy.errors import ConfigError
from neurodeploy.train.config import defaults, load_config, parse_override, validate


def test_defaults_fill_what_the_file_leaves_out(tmp_path):
    f = tmp_path / "c.toml"
    f.write_text("[train]\nepochs = 3\n")
    cfg = load_config(f)
    assert cfg["train"]["epochs"] == 3
    assert cfg["model"] == defaults()["model"]


def test_overrides_are_toml_values_or_bare_words():
    assert parse_override("model.hidden=[128, 64]") == ("model", "hidden", [128, 64])
    assert parse_override("model.neuron=cuba_lif") == ("model", "neuron", "cuba_lif")
    cfg = load_config(None, ["train.lr=1e-3", "model.neuron=cuba_lif"])
    assert cfg["train"]["lr"] == 1e-3 and cfg["model"]["neuron"] == "cuba_lif"


@pytest.mark.parametrize("raw, message", [
    ({"trian": {}}, r"unknown key 'trian' \(did you mean 'train'\?\)"),
    ({"train": {"epoch": 3}}, r"\[train\]: unknown key 'epoch' \(did you mean 'epochs'\?\)"),
    ({"train": {"epochs": "3"}}, r"\[train\] epochs: expected int, got '3'"),
    ({"train": {"epochs": 0}}, r"\[train\] epochs: 0 is below the minimum 1"),
    ({"model": {"neuron": "lfi"}}, r"\[model\] neuron: 'lfi' is not one of lif, cuba_lif, if \(did you mean 'lif'\?\)"),
    ({"model": {"hidden": [128, -1]}}, r"\[model\] hidden: expected a non-empty list of positive ints"),
    ({"model": {"recurrent": 1}}, r"\[model\] recurrent: expected bool"),
    ({"surrogate": {"name": "fast_sigmoid", "params": {"slope": 3.0}}}, r"unknown parameter 'slope'"),
    ({"surrogate": {"name": "superspike"}}, r"unknown surrogate 'superspike'"),
])
def test_bad_values_name_the_key_and_the_fix(raw, message):
    with pytest.raises(ConfigError, match=message):
        validate(raw, "c.toml")


def test_missing_and_malformed_files(tmp_path):
    with pytest.raises(ConfigError, match="config file .*nope.toml does not exist"):
        load_config(tmp_path / "nope.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[train\nepochs=")
    with pytest.raises(ConfigError, match="bad.toml: invalid TOML"):
        load_config(bad)
    with pytest.raises(ConfigError, match="expected section.key=value"):
        load_config(None, ["epochs=3"])
