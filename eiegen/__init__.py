"""eiegen: generator and simulator for EIE-style sparse neural-network accelerators."""

from .arch import ArchConfig, ConfigError

__version__ = "0.1.0"
__all__ = ["ArchConfig", "ConfigError", "__version__"]
