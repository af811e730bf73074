"""drf-toctou: close the time-of-check/time-of-use gaps of bearer-token APIs."""

__version__ = "0.2.0.dev0"
