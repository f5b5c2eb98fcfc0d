"""``calolab demo``: the whole pipeline on a small default, ending in an HTML report."""

from calolab.demo.pipeline import DemoConfig, DemoResult, run_demo

__all__ = ["DemoConfig", "DemoResult", "run_demo"]
