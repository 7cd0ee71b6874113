"""The bridge as a real child process, driven through inferkit_bridge.client over its pipes."""

from __future__ import annotations

import os
import signal
import struct
import sys
import time

import pytest

from conftest import FAKES, FIXTURES
from inferkit_bridge.client import BridgeClient, ClientError
from inferkit_bridge.server import EXIT_ENGINE_DEAD, EXIT_PROTOCOL_ERROR, EXIT_STARTUP_FAILED

ENGINE = "inferkit_test_engines:create"
T = 15.0  # generous per-wait timeout; tests never wait for it unless something is broken


@pytest.fixture
def client():
    c = BridgeClient(ENGINE, model="scripted-1", extra_path=[FIXTURES])
    c.start(T)
    yield c
    c.close()


def alive(pid: int) -> bool:
    """Running (a zombie waiting for PID 1 to reap it does not count)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"


def parent_of(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as f:
        stat = f.read()
    return int(stat[stat.rindex(")") + 2 :].split()[1])


def test_ready_reports_engine_info(client: BridgeClient) -> None:
    ready = client.ready
    # The engine is served by a child of the process the host started (the reaper, reaper.py).
    assert ready["protocol"] == 2 and parent_of(ready["pid"]) == client.proc.pid
    assert ready["engine"] == {"name": "scripted", "model": "scripted-1", "maxContext": 4096, "chatTemplate": True,
                               "device": None, "capabilities": {"continuation": True}}


def test_stream_text_usage_and_finish(client: BridgeClient) -> None:
    client.generate("r1", messages=[{"role": "user", "content": "hello big world"}])
    result = client.collect("r1", T)
    assert result["text"] == "echo: hello big world "
    assert result["tokens"] == 4
    assert result["finishReason"] == "stop"
    assert result["usage"] == {"inputTokens": 3, "outputTokens": 4}


def test_max_tokens_and_stop_strings(client: BridgeClient) -> None:
    client.generate("len", prompt="!tokens 50", sampling={"maxTokens": 5})
    result = client.collect("len", T)
    assert (result["text"], result["finishReason"]) == ("t0 t1 t2 t3 t4 ", "length")
    client.generate("stop", prompt="a b c d", sampling={"stop": ["c d"]})
    result = client.collect("stop", T)
    assert (result["text"], result["finishReason"]) == ("echo: a b ", "stop")


def test_concurrent_requests_interleave_and_stay_in_order(client: BridgeClient) -> None:
    for i in range(40):
        client.generate(f"c{i}", prompt=f"!tokens {200 + i}")
    for i in range(40):
        result = client.collect(f"c{i}", T)
        assert result["text"] == "".join(f"t{k} " for k in range(200 + i))
        assert result["tokens"] == 200 + i


def test_abort_releases_the_request_in_the_engine(client: BridgeClient) -> None:
    client.generate("f", prompt="!forever")
    first = next(client.frames_for("f", T))
    assert first["type"] == "delta"
    client.abort("f")
    frames = list(client.frames_for("f", T))
    assert frames[-1] == {"type": "aborted", "id": "f"}
    pong = settled_ping(client)
    assert pong["stats"]["active"] == []
    assert "f" in pong["stats"]["aborted"] and "f" in pong["stats"]["closedStreams"]


def settled_ping(client: BridgeClient) -> dict:
    """A finished request stays in flight until its engine stream is closed, just after its last
    delta; ping until that has happened (bounded)."""
    for _ in range(200):
        pong = client.ping(T)
        if pong["inFlight"] == 0:
            return pong
    raise AssertionError(f"requests stayed in flight: {pong}")


def test_abort_of_unknown_or_finished_request_is_ignored(client: BridgeClient) -> None:
    client.generate("done", prompt="x")
    client.collect("done", T)
    client.abort("done")
    client.abort("never-existed")
    assert settled_ping(client)["stats"]["active"] == []


def test_typed_and_untyped_engine_errors(client: BridgeClient) -> None:
    client.generate("e1", prompt="!error context_length_exceeded too long")
    result = client.collect("e1", T)
    assert result["text"] == "x "  # text produced before the failure is delivered first
    assert result["error"]["kind"] == "context_length_exceeded"
    assert result["error"]["message"] == "too long"
    client.generate("e2", prompt="!raise")
    error = client.collect("e2", T)["error"]
    assert error["kind"] == "internal"
    assert error["message"] == "RuntimeError: scripted failure"
    assert error["details"] == {"originalName": "RuntimeError"}
    # the worker is still serving
    client.generate("ok", prompt="fine")
    assert client.collect("ok", T)["finishReason"] == "stop"


def test_bad_request_and_duplicate_ids(client: BridgeClient) -> None:
    client.send({"type": "generate", "id": "bad", "prompt": "x", "sampling": {"temperature": "warm"}})
    assert client.collect("bad", T)["error"]["kind"] == "bad_request"
    client.generate("dup", prompt="!forever")
    client.generate("dup", prompt="x")
    frames = client.frames_for("dup", T)
    seen_error = None
    for frame in frames:
        if frame["type"] == "error":
            seen_error = frame
            break
    assert seen_error is not None and "already running" in seen_error["error"]["message"]
    client.abort("dup")
    assert list(client.frames_for("dup", T))[-1]["type"] == "aborted"


def test_engine_output_on_stdout_does_not_touch_the_protocol(client: BridgeClient) -> None:
    client.generate("p", prompt="!print 20")
    result = client.collect("p", T)
    assert result["text"] == "".join(f"p{i} " for i in range(20))
    # The log pipe is read by its own thread: give it a bounded moment to catch up.
    deadline = time.monotonic() + T
    while time.monotonic() < deadline and not any("stderr noise 19" in line for line in client.logs):
        time.sleep(0.01)
    assert any("stdout noise 19" in line for line in client.logs)
    assert any("stderr noise 19" in line for line in client.logs)


def test_fatal_engine_error_fails_everything_and_exits(client: BridgeClient) -> None:
    client.generate("slow", prompt="!forever")
    next(client.frames_for("slow", T))
    client.generate("boom", prompt="!fatal")
    assert client.collect("boom", T)["error"]["kind"] == "runtime_crashed"
    assert client.collect("slow", T)["error"]["kind"] == "runtime_crashed"
    worker_error = client.recv(T)
    assert worker_error["type"] == "error" and worker_error["fatal"] is True and "id" not in worker_error
    assert client.proc.wait(T) == EXIT_ENGINE_DEAD


def test_protocol_error_from_host_is_reported_then_exit(client: BridgeClient) -> None:
    client.send_raw(struct.pack(">I", 5) + b"nope!")
    frame = client.recv(T)
    assert frame["type"] == "error" and frame["fatal"] is True
    assert "protocol error from host" in frame["error"]["message"]
    assert client.proc.wait(T) == EXIT_PROTOCOL_ERROR


def test_unknown_frame_type_is_a_protocol_error(client: BridgeClient) -> None:
    client.send({"type": "delta", "id": "x"})
    frame = client.recv(T)
    assert frame["fatal"] is True and "unknown host frame type" in frame["error"]["message"]
    assert client.proc.wait(T) == EXIT_PROTOCOL_ERROR


def test_shutdown_and_eof_exit_cleanly() -> None:
    c = BridgeClient(ENGINE, extra_path=[FIXTURES])
    c.start(T)
    c.generate("f", prompt="!forever")
    next(c.frames_for("f", T))
    assert c.close() == 0  # shutdown aborts in-flight work and exits 0
    c2 = BridgeClient(ENGINE, extra_path=[FIXTURES])
    c2.start(T)
    pid = c2.proc.pid
    os.close(c2._to_worker)  # the host vanishes: EOF on the frame pipe
    c2._to_worker = -1
    assert c2.proc.wait(T) == 0
    c2.close()
    assert not alive(pid)


@pytest.mark.parametrize(
    "engine, args, kind, text",
    [
        (ENGINE, {"fail_startup": "no weights here"}, "bad_request", "no weights here"),
        ("no_such_module_xyz:create", {}, "not_found", "no_such_module_xyz"),
        ("inferkit_test_engines:missing", {}, "not_found", "no attribute"),
        ("plainname", {}, "bad_request", "module:factory"),
        ("inferkit_test_engines:ScriptedEngine", {}, "bad_request", "rejected its arguments"),
    ],
)
def test_startup_failures_are_typed_and_exit(engine: str, args: dict, kind: str, text: str) -> None:
    c = BridgeClient(engine, engine_args=args, extra_path=[FIXTURES])
    with pytest.raises(ClientError) as info:
        c.start(T)
    assert f"'kind': '{kind}'" in str(info.value) and text in str(info.value)
    assert c.proc.wait(T) == EXIT_STARTUP_FAILED
    c.close()


def test_builtin_adapters_without_their_libraries_fail_cleanly(no_fakes: None) -> None:
    for engine, missing in (("vllm", "vllm"), ("transformers", "t")):
        c = BridgeClient(engine, model="/nonexistent", env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"})
        with pytest.raises(ClientError) as info:
            c.start(T)
        assert "'kind': 'not_found'" in str(info.value)
        assert c.proc.wait(T) == EXIT_STARTUP_FAILED
        c.close()


def test_vllm_adapter_end_to_end_in_a_worker_with_the_fake_vllm() -> None:
    c = BridgeClient("vllm", model="/models/tiny", engine_args={"max_model_len": 64, "tensor_parallel_size": 1},
                     extra_path=[os.path.join(FAKES, "vllm_v1"), FAKES])
    c.start(T)
    try:
        assert c.ready["engine"] == {"name": "vllm", "model": "/models/tiny", "maxContext": 64, "chatTemplate": True,
                                     "device": None,
                                     "capabilities": {"responseFormat": True, "continuation": True, "penalties": True}}
        c.generate("v", messages=[{"role": "user", "content": "salut"}], sampling={"temperature": 0})
        result = c.collect("v", T)
        assert result["text"] == "Bonjour, ça va? Très bien."
        assert result["finishReason"] == "stop"
        assert result["usage"]["outputTokens"] == len("Bonjour, ça va? Très bien.".encode()) + 1  # + EOS
    finally:
        c.close()


def test_close_kills_the_whole_process_group() -> None:
    c = BridgeClient(ENGINE, extra_path=[FIXTURES])
    c.start(T)
    pid = c.proc.pid
    os.kill(pid, signal.SIGSTOP)  # a wedged worker ignores the shutdown frame
    code = c.close(timeout=0.5)
    assert code == -signal.SIGKILL
    assert not alive(pid)


def test_an_engine_with_a_sync_generate_gets_a_clear_error() -> None:
    c = BridgeClient(ENGINE, engine_args={"sync_generate": True}, extra_path=[FIXTURES])
    c.start(T)
    try:
        c.generate("s", prompt="x")
        error = c.collect("s", T)["error"]
        assert error["kind"] == "internal"
        assert "must be an async generator" in error["message"]
    finally:
        c.close()


def test_worker_exits_when_its_host_is_killed() -> None:
    """No orphans even when the host dies without a word: the worker sees EOF on its frame pipe."""
    import subprocess

    host_code = (
        "import sys, time\n"
        f"sys.path.insert(0, {os.path.join(os.path.dirname(FIXTURES), '..', 'python')!r})\n"
        "from inferkit_bridge.client import BridgeClient\n"
        f"c = BridgeClient({ENGINE!r}, extra_path=[{FIXTURES!r}])\n"
        "ready = c.start(15)\n"
        "c.generate('f', prompt='!forever')\n"
        "print(ready['pid'], flush=True)\n"
        "time.sleep(60)\n"
    )
    host = subprocess.Popen([sys.executable, "-c", host_code], stdout=subprocess.PIPE, text=True)
    try:
        worker = int(host.stdout.readline())
        assert alive(worker)
        host.kill()
        host.wait(T)
        deadline = time.monotonic() + T
        while alive(worker) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert not alive(worker)
    finally:
        host.kill()


def test_module_refuses_to_run_without_its_pipes() -> None:
    import subprocess

    env = dict(os.environ, PYTHONPATH=os.path.dirname(FIXTURES.replace("test/fixtures", "python/x")))
    proc = subprocess.run([sys.executable, "-m", "inferkit_bridge", "--in-fd", "97", "--out-fd", "98"],
                          env=env, capture_output=True, timeout=T)
    assert proc.returncode == 64
    assert b"file descriptor 97 is not open" in proc.stderr


def test_undeclared_features_are_refused_by_the_bridge(client: BridgeClient) -> None:
    """The scripted engine declares continuation only: the rest is refused before it runs."""
    client.send({"type": "generate", "id": "t", "prompt": "x", "tools": [{"name": "f"}]})
    assert client.collect("t", T)["error"]["details"] == {"param": "tools"}
    client.send({"type": "generate", "id": "p", "prompt": "x", "sampling": {"presencePenalty": 0.5}})
    assert client.collect("p", T)["error"]["details"] == {"param": "sampling.presencePenalty"}
    client.send({"type": "generate", "id": "i", "messages": [{"role": "user", "content": [{"type": "image_url", "url": "u"}]}]})
    assert client.collect("i", T)["error"]["details"] == {"param": "messages[0].content[0]"}
    client.generate("c", messages=[{"role": "user", "content": "a b c"}, {"role": "assistant", "content": "echo: a", "prefix": True}])
    assert client.collect("c", T)["text"] == " b c "


def test_liveness_is_answered_off_the_event_loop_and_reports_a_blocked_loop() -> None:
    c = BridgeClient("inferkit_hostile_engines:create", extra_path=[FIXTURES])
    c.start(T)
    try:
        assert c.liveness(1, 1000, T) == {"type": "alive", "nonce": 1, "loopLagMs": 0}
        c.generate("s", messages=[{"role": "user", "content": "sleep 3"}])  # time.sleep on the loop
        next(c.frames_for("s", T))
        time.sleep(0.3)  # the loop is blocked by now
        c.liveness(2, 1000, T)  # posts a probe the blocked loop cannot run
        deadline = time.monotonic() + T
        lag = 0
        while lag <= 1000 and time.monotonic() < deadline:
            time.sleep(0.2)
            lag = c.liveness(3, 1000, T)["loopLagMs"]
        assert lag > 1000  # answered while the loop was still blocked
        deadline = time.monotonic() + T
        while not any("the event loop has not run for" in line for line in c.logs) and time.monotonic() < deadline:
            time.sleep(0.02)
        log = "\n".join(c.logs)
        assert "it is blocked in:" in log and "time.sleep" in log
    finally:
        c.close()


def test_the_reaper_kills_what_the_engine_left_when_the_serving_process_dies() -> None:
    c = BridgeClient("inferkit_hostile_engines:create", extra_path=[FIXTURES])
    c.start(T)
    group = session = None
    try:
        c.generate("s", messages=[{"role": "user", "content": "spawn"}])
        group, session = (int(p) for p in next(c.frames_for("s", T))["text"].split())
        assert alive(group) and alive(session)
        os.kill(c.ready["pid"], signal.SIGKILL)  # the serving process, not the reaper
        assert c.proc.wait(T) == -signal.SIGKILL  # the reaper exits the way it died
        assert not alive(group) and not alive(session)
    finally:
        c.close()
        for pid in (group, session):
            if pid is not None and alive(pid):
                os.kill(pid, signal.SIGKILL)
