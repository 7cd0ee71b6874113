"""FAKE AsyncEngineArgs: the dataclass fields listed in vllm-api.md §2."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass
class AsyncEngineArgs:
    model: str = "Qwen/Qwen3-0.6B"
    tokenizer: str | None = None
    tokenizer_mode: str = "auto"
    trust_remote_code: bool = False
    download_dir: str | None = None
    load_format: str = "auto"
    dtype: str = "auto"
    seed: int = 0
    max_model_len: int | None = None
    gpu_memory_utilization: float = 0.9
    kv_cache_memory_bytes: int | None = None
    tensor_parallel_size: int = 1
    pipeline_parallel_size: int = 1
    data_parallel_size: int = 1
    data_parallel_backend: str = "mp"
    distributed_executor_backend: Any = None
    enforce_eager: bool = False
    max_num_seqs: int | None = None
    max_num_batched_tokens: int | None = None
    enable_prefix_caching: bool | None = None
    quantization: str | None = None
    disable_log_stats: bool = False
    enable_log_requests: bool = False
    served_model_name: Any = None
    revision: str | None = None
    hf_overrides: Any = None
    generation_config: str = "auto"
