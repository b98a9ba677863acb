"""Profile dataclasses, the declared schema, and the loader with one place of validation."""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from neurodeploy.constraints import Range, check_number
from neurodeploy.errors import ConfigError
from neurodeploy.tomlio import load_toml

PROVENANCE_KINDS = ("measured", "simulated", "derived", "datasheet", "paper", "unverified")

#: cost name → unit and meaning. Energies in picojoules, power in milliwatts.
COST_KEYS: dict[str, str] = {
    "e_ac_pj": "pJ per synaptic accumulate (binary input × weight)",
    "e_mac_pj": "pJ per multiply-accumulate (analog input × weight)",
    "e_neuron_update_pj": "pJ per neuron state update (one neuron, one step)",
    "e_spike_route_pj": "pJ per spike sent to another core/tile",
    "e_mem_read_pj_per_bit": "pJ per bit read from weight/state memory",
    "e_mem_write_pj_per_bit": "pJ per bit written to state memory",
    "static_power_mw": "static power of the chip in mW",
    "p_dynamic_inference_mw": "published dynamic power of one whole application while inferring, in mW "
                              "(a system figure for the application named in its source, not per operation)",
    "e_inference_uj": "published energy per inference of one whole application, in µJ (conditions in its source)",
}

#: limit name → meaning. Integers unless stated.
LIMIT_KEYS: dict[str, str] = {
    "cores_per_chip": "neuro cores per chip",
    "neurons_per_core": "neurons (compartments) per core",
    "input_axons_per_core": "input axons per core",
    "output_axons_per_core": "output axons per core",
    "synapse_memory_bits_per_core": "synapse memory per core in bits",
    "weight_bits": "bits of a synaptic weight (sign included)",
    "weight_min": "smallest integer weight",
    "weight_max": "largest integer weight",
    "state_bits": "bits of the membrane/current state",
    "decay_bits": "bits of the current/voltage decay constants",
    "threshold_mant_max": "largest threshold mantissa",
    "bias_mant_max": "largest |bias| mantissa",
    "state_shift_bits": "left shift (bits) of weights, biases and thresholds into the state",
    "delay_max": "largest synaptic delay in steps",
    "refractory_max": "largest refractory period in steps",
    "max_inputs": "input channels of the whole network",
    "max_outputs": "output (readout) neurons of the whole network",
    "max_hidden_neurons": "hidden neurons of the whole network",
    "min_neuron_layers": "fewest spiking layers a network must have",
    "dash_max": "largest bit-shift decay exponent (tau = 2^dash * dt)",
    "spikes_per_step_max": "most spikes a hidden neuron emits in one step",
    "input_events_max": "most input events one channel delivers per step (more are clipped)",
}

#: fidelity criterion name → meaning (``[fidelity.<key>]`` tables of a target profile). Verify and
#: export judge an exported network by these; the CLI may override them (recorded in its JSON).
FIDELITY_KEYS: dict[str, str] = {
    "max_accuracy_drop_pts": "largest |accuracy(exported) - accuracy(float)| in percentage points "
                             "(judged with an exact McNemar test on the paired predictions)",
    "accuracy_test_alpha": "significance level of that test (an accuracy difference counts only "
                           "when it is both above the threshold and significant at this level)",
    "min_spike_agreement": "smallest per-layer fraction of identical spike bins, float vs fixed point",
    "min_count_corr": "smallest per-layer per-neuron spike-count correlation, float vs fixed point",
    "min_vendor_agreement": "fraction of identical spike bins our emulator vs the vendor simulator "
                            "must reach in every layer (1 = bit-exact)",
    "max_weight_rel_error": "largest per-layer relative L2 error of the quantised weights",
    "max_zeroed_weight_share": "largest per-layer share of non-zero weights that round to 0",
    "max_param_rel_error": "largest relative rounding error of a layer's threshold, decays or biases",
    "export_sample_size": "samples the exporter simulates to check float vs fixed point agreement",
}


#: every cost and limit: a finite number in [0, 1e15] (NaN, ±inf and absurd sizes are refused)
VALUE_RANGE = Range(min=0.0, max=1e15)


@dataclass(frozen=True)
class Quantity:
    """A number with its provenance."""

    value: float
    source: str
    kind: str


@dataclass(frozen=True)
class Profile:
    """One target's costs and limits. ``path`` is the file it was read from."""

    name: str
    description: str
    costs: dict[str, Quantity]
    limits: dict[str, Quantity]
    path: str = ""
    fidelity: dict[str, Quantity] = field(default_factory=dict)

    def cost(self, key: str) -> float | None:
        q = self.costs.get(key)
        return None if q is None else q.value

    def limit(self, key: str) -> float | None:
        q = self.limits.get(key)
        return None if q is None else q.value

    def criterion(self, key: str) -> float | None:
        q = self.fidelity.get(key)
        return None if q is None else q.value


def _unknown(where: str, key: str, known) -> ConfigError:
    close = difflib.get_close_matches(key, list(known), n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return ConfigError(f"{where}: unknown key {key!r}{hint}; allowed: {', '.join(sorted(known))}")


def _quantities(where: str, table: object, allowed: dict[str, str]) -> dict[str, Quantity]:
    if not isinstance(table, dict):
        raise ConfigError(f"{where} must be a table of {{value, source, kind}} tables")
    out = {}
    for key, entry in table.items():
        if key not in allowed:
            raise _unknown(where, key, allowed)
        at = f"{where}.{key}"
        if not isinstance(entry, dict):
            raise ConfigError(f"{at} must be a table with value, source and kind")
        extra = set(entry) - {"value", "source", "kind"}
        if extra:
            raise _unknown(at, sorted(extra)[0], ("value", "source", "kind"))
        for req in ("value", "source", "kind"):
            if req not in entry:
                raise ConfigError(f"{at}: missing {req!r}; every number needs value, source and kind")
        value = check_number(f"{at}.value", entry["value"], VALUE_RANGE)
        if entry["kind"] not in PROVENANCE_KINDS:
            raise ConfigError(f"{at}.kind must be one of {', '.join(PROVENANCE_KINDS)}, got {entry['kind']!r}")
        if not isinstance(entry["source"], str) or not entry["source"].strip():
            raise ConfigError(f"{at}.source is empty; say where the number comes from")
        out[key] = Quantity(float(value), str(entry["source"]), str(entry["kind"]))
    return out


def parse_profile(data: dict, where: str) -> Profile:
    """Validate a parsed TOML document against the schema; ``where`` names it in errors."""
    allowed_top = {"name", "description", "costs", "limits", "fidelity"}
    for key in data:
        if key not in allowed_top:
            raise _unknown(where, key, allowed_top)
    if not isinstance(data.get("name"), str) or not data["name"].strip():
        raise ConfigError(f"{where}: 'name' (a non-empty string) is required")
    if not isinstance(data.get("description", ""), str):
        raise ConfigError(f"{where}: 'description' must be a string")
    return Profile(
        name=data["name"],
        description=str(data.get("description", "")),
        costs=_quantities(f"{where}: costs", data.get("costs", {}), COST_KEYS),
        limits=_quantities(f"{where}: limits", data.get("limits", {}), LIMIT_KEYS),
        path=where,
        fidelity=_quantities(f"{where}: fidelity", data.get("fidelity", {}), FIDELITY_KEYS),
    )


def _builtin_files() -> dict[str, object]:
    root = resources.files("neurodeploy.hw_profiles")
    return {p.name[:-5]: p for p in root.iterdir() if p.name.endswith(".toml")}


def list_profiles() -> list[str]:
    """Names of the builtin profiles."""
    return sorted(_builtin_files())


def load_profile(name_or_path: str | Path) -> Profile:
    """Load a builtin profile by name, or a user's profile from a ``.toml`` path."""
    text_path = str(name_or_path)
    if text_path.endswith(".toml") or Path(text_path).exists():
        path = Path(text_path)
        if not path.is_file():
            raise ConfigError(f"profile file {path} does not exist")
        return parse_profile(load_toml(path), str(path))
    files = _builtin_files()
    if text_path not in files:
        close = difflib.get_close_matches(text_path, list(files), n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ConfigError(f"unknown profile {text_path!r}; builtin: {', '.join(sorted(files))}.{hint} "
                          "Or pass a path to your own profile .toml")
    f = files[text_path]
    return parse_profile(load_toml(f), f"profile {text_path}")
