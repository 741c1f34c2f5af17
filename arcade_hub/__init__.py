"""Arcade Hub: a JupyterHub distribution for astronomy science platforms."""

__version__ = "0.1.0"
