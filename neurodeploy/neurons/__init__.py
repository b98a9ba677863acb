"""Spiking layers with Norse-compatible parameters and multi-step execution over (T, B, …)."""

from neurodeploy.neurons.functional import (
    CubaLIFParameters,
    IFParameters,
    LIFParameters,
    NeuronState,
    coefficients,
    neuron_step,
)
from neurodeploy.neurons.modules import IF, LIF, NEURON_TYPES, CubaLIF, SpikingNeuron, SumPool2d
from neurodeploy.neurons.sequential import SpikingSequential

__all__ = [
    "IF", "LIF", "NEURON_TYPES", "CubaLIF", "CubaLIFParameters", "IFParameters", "LIFParameters",
    "NeuronState", "SpikingNeuron", "SpikingSequential", "SumPool2d", "coefficients", "neuron_step",
]
