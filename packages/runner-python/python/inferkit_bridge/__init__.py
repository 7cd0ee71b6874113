"""inferkit_bridge: serves a Python inference engine to @inferkit/runner-python over frame pipes.

Standard library only. See `engine.py` for the interface an engine implements and
`protocol.py` for the frames.
"""

from .engine import Delta, Engine, EngineInfo, GenerateRequest, Sampling, Usage
from .errors import BridgeError
from .protocol import PROTOCOL_VERSION

__all__ = [
    "BridgeError",
    "Delta",
    "Engine",
    "EngineInfo",
    "GenerateRequest",
    "PROTOCOL_VERSION",
    "Sampling",
    "Usage",
]
