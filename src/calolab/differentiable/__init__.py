"""Differentiable design (MODE): a torch backend of the fast simulator whose outputs are
differentiable with respect to continuous design parameters, and the joint optimisation of a
detector and its reconstruction. See docs/differentiable.md."""

from calolab.differentiable.design import DesignParameters, section_tables
from calolab.differentiable.simulator import SUPPORTED, TorchShowers, TorchSimulator

__all__ = ["SUPPORTED", "DesignParameters", "TorchShowers", "TorchSimulator", "section_tables"]
