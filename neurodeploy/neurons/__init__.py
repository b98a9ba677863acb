"""Spiking layers with Norse-compatible parameters and multi-step execution over (T, B, …)."""

from neurodeploy.neurons.functional import (
    CubaLIFParameters,
    CubaLIParameters,
    IFParameters,
    LIFParameters,
    NeuronState,
    coefficients,
    neuron_step,
)
from neurodeploy.neurons.modules import (
    IF,
    LIF,
    NEURON_TYPES,
    CubaLI,
    CubaLIF,
    SpikingNeuron,
    SumPool2d,
)
from neurodeploy.neurons.sequential import SpikingSequential

__all__ = [
    "IF", "LIF", "NEURON_TYPES", "CubaLI", "CubaLIF", "CubaLIFParameters", "CubaLIParameters", "IFParameters", "LIFParameters",
    "NeuronState", "SpikingNeuron", "SpikingSequential", "SumPool2d", "coefficients", "neuron_step",
]
