"""FAKE 0.3-era AsyncEngineArgs (Ray flags instead of distributed_executor_backend)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class AsyncEngineArgs:
    model: str = "facebook/opt-125m"
    tokenizer: str | None = None
    trust_remote_code: bool = False
    download_dir: str | None = None
    dtype: str = "auto"
    seed: int = 0
    max_model_len: int | None = None
    worker_use_ray: bool = False
    engine_use_ray: bool = False
    pipeline_parallel_size: int = 1
    tensor_parallel_size: int = 1
    gpu_memory_utilization: float = 0.9
    revision: str | None = None
    disable_log_requests: bool = False
