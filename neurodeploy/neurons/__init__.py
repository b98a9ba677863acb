"""Spiking layers with Norse-compatible parameters and multi-step execution over (T, B, …)."""

from neurodeploy.neurons.functional import (
    CubaLIFParameters,
    CubaLIParameters,
    IFParameters,
    LIFParameters,
    LIParameters,
    NeuronState,
    coefficients,
    neuron_step,
)
from neurodeploy.neurons.modules import (
    IF,
    LI,
    LIF,
    NEURON_TYPES,
    CubaLI,
    CubaLIF,
    SpikingNeuron,
    SumPool2d,
)
from neurodeploy.neurons.readout import READOUTS, readout_logits
from neurodeploy.neurons.sequential import SpikingSequential

__all__ = [
    "IF", "LI", "LIF", "LIParameters", "NEURON_TYPES", "CubaLI", "CubaLIF", "CubaLIFParameters", "CubaLIParameters", "IFParameters", "LIFParameters",
    "NeuronState", "READOUTS", "readout_logits", "SpikingNeuron", "SpikingSequential", "SumPool2d", "coefficients", "neuron_step",
]
