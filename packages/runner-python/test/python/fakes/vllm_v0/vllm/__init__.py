"""FAKE vllm 0.3.x (V0 AsyncLLMEngine only, no vllm.v1) for the adapter's fallback path."""

from .engine.arg_utils import AsyncEngineArgs
from .engine.async_llm_engine import AsyncLLMEngine
from .sampling_params import SamplingParams

__version__ = "0.3.3+fake"
