"""Dry runs of bench/gpu/run-gpu-check.sh (made for a GPU machine without Node.js) on this
machine: against the FAKE torch/transformers/tokenizers, and with the libraries absent."""

from __future__ import annotations

import json
import os
import subprocess

from conftest import FAKES, PACKAGE

SCRIPT = os.path.join(PACKAGE, "bench", "gpu", "run-gpu-check.sh")


def run(out: str, **env: str) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    full_env.update(env)
    return subprocess.run(["bash", SCRIPT, out], env=full_env, capture_output=True, text=True, timeout=120)


def test_every_check_passes_against_the_fakes(tmp_path) -> None:
    out = str(tmp_path)
    proc = run(out, PYTHONPATH=f"{FAKES}/hf{os.pathsep}{FAKES}", DEVICE="cpu", FAKE_HF_REPLY_REPEAT="100",
               FAKE_HF_STEP_DELAY="0.001")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    with open(os.path.join(out, "runner-python-gpu.json")) as f:
        result = json.load(f)
    assert result["fatal"] is None
    assert [c["check"] for c in result["checks"] if not c["ok"]] == []
    assert result["passed"] == 13
    with open(os.path.join(out, "runner-python-gpu.md")) as f:
        assert "**13 passed, 0 failed**" in f.read()


def test_missing_libraries_give_a_clear_result_not_a_hang(tmp_path) -> None:
    out = str(tmp_path)
    proc = run(out, PYTHONPATH="", DEVICE="cpu")  # the build machine has no torch for python3
    assert proc.returncode == 1
    with open(os.path.join(out, "runner-python-gpu.md")) as f:
        text = f.read()
    assert "stopped early: cannot import torch/transformers" in text
