"""Resolves the engine named in the init frame: `vllm`, `transformers`, or `module:factory`."""

from __future__ import annotations

import importlib
import inspect
from typing import Any

from .engine import REQUIRED_METHODS
from .errors import BridgeError, describe

BUILTIN_ENGINES = {
    "vllm": "inferkit_bridge.adapters.vllm_adapter:create_engine",
    "transformers": "inferkit_bridge.adapters.transformers_adapter:create_engine",
}


def _resolve(spec: str) -> Any:
    target = BUILTIN_ENGINES.get(spec, spec)
    module_name, sep, attribute = target.partition(":")
    if not sep or not module_name or not attribute:
        raise BridgeError(
            "bad_request",
            f"engine {spec!r} is neither 'vllm', 'transformers' nor 'module:factory'",
            details={"param": "engine"},
        )
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        raise BridgeError(
            "not_found",
            f"cannot import engine module {module_name!r}: {describe(exc)}",
            details={"resource": module_name},
        ) from exc
    obj: Any = module
    for part in attribute.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError as exc:
            raise BridgeError(
                "not_found", f"module {module_name!r} has no attribute {attribute!r}", details={"resource": module_name}
            ) from exc
    if not callable(obj):
        raise BridgeError("bad_request", f"engine factory {target!r} is not callable")
    return obj


async def load_engine(init: dict[str, Any]) -> Any:
    """Call the factory with (model, revision, engine_args) keywords and check the result."""
    factory = _resolve(init["engine"])
    try:
        engine = factory(model=init["model"], revision=init["revision"], engine_args=init["engine_args"])
        if inspect.isawaitable(engine):
            engine = await engine
    except BridgeError:
        raise
    except TypeError as exc:
        raise BridgeError("bad_request", f"engine factory {init['engine']!r} rejected its arguments: {exc}") from exc
    except Exception as exc:  # the engine's own start-up failure, reported with its type
        raise BridgeError("internal", f"engine {init['engine']!r} failed to start: {describe(exc)}") from exc
    missing = [name for name in REQUIRED_METHODS if not callable(getattr(engine, name, None))]
    if missing:
        raise BridgeError(
            "bad_request",
            f"engine factory {init['engine']!r} returned {type(engine).__name__}, which lacks {', '.join(missing)}",
        )
    return engine
