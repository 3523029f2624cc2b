"""Backprop Lab: step through backpropagation, layer by layer, with every number exact."""

__version__ = "0.1.0"
