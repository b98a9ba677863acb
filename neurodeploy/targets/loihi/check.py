"""Hardware check of a quantised Loihi network against a profile (``hw_profiles/loihi*.toml``).

Public API::

    check_layers(layers: Sequence[LayerHW], profile: Profile) -> CheckReport
    CheckReport.ok, .violations, .to_dict(), .to_text()

Every violation is collected (never only the first): layer, what, value, limit and the fix. The core
mapping is an *estimate* (dense-equivalent synapse count × weight bits per core, one output axon
per neuron and destination core); the real Lava/Loihi compiler may pack differently. Limits absent
from the profile are reported as "not checked", never assumed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

from neurodeploy.hw_profiles.schema import Profile


@dataclass(frozen=True)
class LayerHW:
    """What the checker needs about one netx layer, with the integers exactly as written."""

    index: int            # netx layer index (/layer/<index>)
    name: str             # source NIR node names, e.g. "0_affine+1_lif"
    kind: str             # "dense" | "dense_rec" | "conv"
    n_neurons: int
    n_inputs: int         # distinct presynaptic neurons (recurrent ones included)
    n_synapses: int       # dense-equivalent synapse count (conv: neurons × C_in/groups × kH × kW)
    weight_min: int
    weight_max: int
    i_decay: int
    v_decay: int
    v_th_mant: int
    bias_abs_max: int
    delay_max: int = 0


@dataclass(frozen=True)
class Violation:
    layer: str
    what: str
    value: float
    limit: float
    fix: str

    def text(self) -> str:
        return f"layer {self.layer}: {self.what} = {self.value:g} exceeds limit {self.limit:g}; {self.fix}"


@dataclass(frozen=True)
class CheckReport:
    """Result of :func:`check_layers`. ``cores``: one dict per layer (layer, neurons, cores, …)."""

    profile: str
    violations: tuple[Violation, ...]
    cores: tuple[dict, ...]
    total_cores: int
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def ok(self) -> bool:
        return not self.violations

    def to_dict(self) -> dict:
        return {"profile": self.profile, "ok": self.ok, "total_cores": self.total_cores,
                "violations": [asdict(v) for v in self.violations],
                "core_mapping": list(self.cores), "notes": list(self.notes)}

    def to_text(self) -> str:
        lines = [f"Loihi hardware check against profile {self.profile!r}: "
                 + ("OK" if self.ok else f"{len(self.violations)} violation(s)")]
        lines += ["  - " + v.text() for v in self.violations]
        lines.append(f"Core mapping (estimate): {self.total_cores} core(s)")
        for c in self.cores:
            lines.append(f"  layer {c['index']} {c['name']} ({c['kind']}): {c['neurons']} neurons, "
                         f"{c['synapses']} synapses -> {c['cores']} core(s) "
                         f"[{c['neurons_per_core']} neurons/core, "
                         f"{c['synapse_bits_per_core']} synapse bits/core]")
        lines += ["  note: " + n for n in self.notes]
        return "\n".join(lines)


def _lim(profile: Profile, key: str, notes: list[str]) -> float | None:
    value = profile.limit(key)
    if value is None:
        notes.append(f"{key} unknown in profile {profile.name!r}: not checked")
    return value


def _ranges(layer: LayerHW, profile: Profile, notes: list[str]) -> list[Violation]:
    out: list[Violation] = []
    nm = layer.name

    def over(what, value, limit, fix):
        if limit is not None and value > limit:
            out.append(Violation(nm, what, value, limit, fix))

    wmax = _lim(profile, "weight_max", notes)
    if wmax is not None:
        over("largest weight", layer.weight_max, wmax, "lower the layer scale k (exporter bug)")
        over("-(smallest weight)", -layer.weight_min, wmax + 2, "lower the layer scale k (exporter bug)")
    wbits, wmax_fmt = profile.limit("weight_bits"), profile.limit("weight_max")
    if wbits is not None and wmax_fmt is not None:  # netx writes even weights: weight_max/2 plus a sign bit
        need = (int(wmax_fmt) // 2).bit_length() + 1
        if wbits < need:
            out.append(Violation(nm, "weight bits the profile's weight_max needs", need, wbits,
                                 f"this profile's chip holds {int(wbits)}-bit weights; lower weight_max"))
    dbits = _lim(profile, "decay_bits", notes)
    if dbits is not None:
        over("vDecay", layer.v_decay, 2 ** dbits - 1, f"use a longer tau_mem (vDecay = {2 ** int(dbits)}*dt/tau_mem)")
        over("iDecay", layer.i_decay, 2 ** dbits, f"use a longer tau_syn (iDecay = {2 ** int(dbits)}*dt/tau_syn)")
    over("vThMant", layer.v_th_mant, _lim(profile, "threshold_mant_max", notes),
         "lower v_threshold relative to the weights or let the exporter pick a smaller scale k")
    if layer.v_th_mant < 1:
        out.append(Violation(nm, "vThMant (must be >= 1)", layer.v_th_mant, 1,
                             "raise v_threshold relative to the weights"))
    over("|bias mantissa|", layer.bias_abs_max, _lim(profile, "bias_mant_max", notes),
         "reduce v_leak / affine bias relative to v_threshold")
    over("synaptic delay", layer.delay_max, _lim(profile, "delay_max", notes), "use shorter delays")
    return out


def check_layers(layers: Sequence[LayerHW], profile: Profile) -> CheckReport:
    """Check ranges, bit widths and per-core capacity of every layer; collect all violations."""
    notes: list[str] = []
    violations: list[Violation] = []
    for layer in layers:
        violations += _ranges(layer, profile, notes)

    npc = _lim(profile, "neurons_per_core", notes)
    mem = _lim(profile, "synapse_memory_bits_per_core", notes)
    in_ax = _lim(profile, "input_axons_per_core", notes)
    out_ax = _lim(profile, "output_axons_per_core", notes)
    wbits = _lim(profile, "weight_bits", notes)  # absent: synapse memory per core not checked
    cores: list[int] = []
    for layer in layers:
        n = max(1, layer.n_neurons)
        c = 1
        if npc is not None:
            c = max(c, math.ceil(n / npc))
        if mem is not None and wbits is not None:
            c = max(c, math.ceil(layer.n_synapses * wbits / mem))
        cores.append(min(c, n))
        if in_ax is not None and layer.n_inputs > in_ax:
            violations.append(Violation(layer.name, "input axons per core", layer.n_inputs, in_ax,
                                        "reduce the layer's fan-in (fewer inputs per neuron)"))
        if mem is not None and layer.n_synapses * wbits / cores[-1] > mem:
            violations.append(Violation(layer.name, "synapse bits per neuron on one core",
                                        layer.n_synapses * wbits / n, mem,
                                        "reduce the fan-in of each neuron"))
    # output axons: every neuron needs one axon per destination core
    for i, layer in enumerate(layers):
        dest = (cores[i + 1] if i + 1 < len(layers) else 0) + (cores[i] if layer.kind == "dense_rec" else 0)
        if out_ax is None or dest == 0:
            continue
        per_core = math.ceil(layer.n_neurons / cores[i])
        if per_core * dest > out_ax:
            fit = int(out_ax // dest)
            if fit >= 1:
                cores[i] = math.ceil(layer.n_neurons / fit)
            else:
                violations.append(Violation(layer.name, "output axons per neuron", dest, out_ax,
                                            "make the next layer smaller"))
    total = sum(cores)
    cpc = _lim(profile, "cores_per_chip", notes)
    if cpc is not None and total > cpc:
        violations.append(Violation("(network)", "cores needed", total, cpc,
                                    "shrink the network (multi-chip mapping is not supported)"))
    mapping = tuple(
        {"index": lay.index, "name": lay.name, "kind": lay.kind, "neurons": lay.n_neurons,
         "synapses": lay.n_synapses, "cores": c, "neurons_per_core": math.ceil(lay.n_neurons / c),
         "synapse_bits_per_core": math.ceil(lay.n_synapses * wbits / c)}
        for lay, c in zip(layers, cores))
    return CheckReport(profile.name, tuple(violations), mapping, total, tuple(dict.fromkeys(notes)))
