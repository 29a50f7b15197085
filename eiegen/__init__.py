"""eiegen: generator and simulator for EIE-style sparse neural-network accelerators.

The Python API (docs/python-api.md) is imported on first use, so ``import eiegen``
stays fast: ``eiegen.import_model``, ``compress``, ``compile``, ``predict``,
``fidelity``, ``simulate``, ``verilog``, ``build`` (:mod:`eiegen.api`).
"""

from importlib.metadata import PackageNotFoundError, version as _version

from .arch import ArchConfig, ConfigError

try:  # the version is pyproject.toml's, read from the installed metadata
    __version__ = _version("eiegen")
except PackageNotFoundError:  # a source tree that was never installed
    __version__ = "0+unknown"

# the names eiegen.api exports, resolved lazily by __getattr__ (PEP 562)
_API = ("FidelityWarning", "Simulation", "board_config", "build", "compile", "compress",
        "fidelity", "import_model", "load_program", "predict", "simulate", "verilog")

# `compile` stays out of __all__: `from eiegen import *` must not hide the builtin
__all__ = ["ArchConfig", "ConfigError", "__version__", *(n for n in _API if n != "compile")]


def __getattr__(name: str):
    if name in _API:
        from . import api

        return getattr(api, name)
    raise AttributeError(f"module 'eiegen' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_API))
