"""Hardware profiles: every builtin loads and carries provenance; schema errors are precise."""

from __future__ import annotations

import pytest

from neurodeploy.errors import ConfigError
from neurodeploy.hw_profiles import list_profiles, load_profile
from neurodeploy.hw_profiles.schema import PROVENANCE_KINDS

GOOD = '''name = "mine"
description = "test profile"
[costs.e_ac_pj]
value = 1.5
source = "my measurement"
kind = "measured"
'''


@pytest.mark.parametrize("name", list_profiles())
def test_builtin_profiles_load_with_provenance(name):
    p = load_profile(name)
    assert p.name == name and p.description
    for q in [*p.costs.values(), *p.limits.values()]:
        assert q.source.strip() and q.kind in PROVENANCE_KINDS and q.value >= 0


def test_horowitz_values():
    fp32, int8 = load_profile("cmos45-fp32"), load_profile("cmos45-int8")
    assert (fp32.cost("e_ac_pj"), fp32.cost("e_mac_pj")) == (0.9, 4.6)
    assert (int8.cost("e_ac_pj"), int8.cost("e_mac_pj")) == (0.03, 0.23)
    assert load_profile("truenorth").cost("e_mac_pj") is None  # unknown, not zero


def write(tmp_path, text):
    path = tmp_path / "p.toml"
    path.write_text(text)
    return path


def test_user_profile_loads(tmp_path):
    assert load_profile(write(tmp_path, GOOD)).cost("e_ac_pj") == 1.5


def test_unknown_cost_key(tmp_path):
    with pytest.raises(ConfigError, match=r"costs: unknown key 'e_ac_pJ' \(did you mean 'e_ac_pj'\?\)"):
        load_profile(write(tmp_path, GOOD.replace("e_ac_pj", "e_ac_pJ")))


def test_unknown_top_level_key(tmp_path):
    with pytest.raises(ConfigError, match="unknown key 'costz'"):
        load_profile(write(tmp_path, GOOD.replace("[costs.", "[costz.")))


def test_missing_provenance(tmp_path):
    with pytest.raises(ConfigError, match=r"costs.e_ac_pj: missing 'source'; every number needs value, source and kind"):
        load_profile(write(tmp_path, GOOD.replace('source = "my measurement"\n', "")))
    with pytest.raises(ConfigError, match=r"e_ac_pj.source is empty"):
        load_profile(write(tmp_path, GOOD.replace("my measurement", " ")))
    with pytest.raises(ConfigError, match=r"e_ac_pj.kind must be one of measured, .*got 'guess'"):
        load_profile(write(tmp_path, GOOD.replace('"measured"', '"guess"')))


@pytest.mark.parametrize("bad", ["-1.0", '"1.5"', "true", "nan", "inf", "-inf", "1e300"])
def test_bad_value(tmp_path, bad):
    with pytest.raises(ConfigError, match=r"e_ac_pj.value: .*(below the minimum 0|expected a finite number|"
                                          r"not a finite number|above the maximum)"):
        load_profile(write(tmp_path, GOOD.replace("1.5", bad)))


def test_unknown_builtin_name():
    with pytest.raises(ConfigError, match=r"unknown profile 'cmos45-fp31'.*Did you mean 'cmos45-fp32'"):
        load_profile("cmos45-fp31")
