"""FAKE vllm (V1 era, current main) for the adapter tests; reproduces vllm-api.md, nothing more."""

from .engine.arg_utils import AsyncEngineArgs
from .sampling_params import SamplingParams
from .v1.engine.async_llm import AsyncLLM

# After V0 was removed, the legacy name is just an alias (vllm-api.md §1).
AsyncLLMEngine = AsyncLLM
__version__ = "0.11.0+fake"
