"""`python3 -m inferkit_bridge [--in-fd 3] [--out-fd 4] [--liveness-in-fd 5 --liveness-out-fd 6] [--reap]`

Serves one engine over two pipes. The Node side opens fd 3 (host -> worker frames) and fd 4
(worker -> host frames); stdout and stderr stay free for the engine's own output, which the host
turns into log lines. With the liveness pipes, a thread answers the host's liveness pings
(liveness.py). With --reap, the first process stays behind as a subreaper that kills whatever the
engine left running once the serving process is gone (reaper.py).
"""

from __future__ import annotations

import sys

EXIT_USAGE = 64
EXIT_PYTHON_TOO_OLD = 65

if sys.version_info < (3, 10):  # checked before importing modules that need 3.10
    print(
        f"inferkit_bridge needs Python 3.10 or newer; {sys.executable} is {sys.version.split()[0]}",
        file=sys.stderr,
    )
    sys.exit(EXIT_PYTHON_TOO_OLD)

import argparse  # noqa: E402
import asyncio  # noqa: E402
import os  # noqa: E402

from . import reaper  # noqa: E402
from .server import serve  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python3 -m inferkit_bridge", description=__doc__)
    parser.add_argument("--in-fd", type=int, default=3, help="file descriptor the host writes frames to")
    parser.add_argument("--out-fd", type=int, default=4, help="file descriptor the worker writes frames to")
    parser.add_argument("--liveness-in-fd", type=int, default=None, help="file descriptor of the host's liveness pings")
    parser.add_argument("--liveness-out-fd", type=int, default=None, help="file descriptor for the liveness answers")
    parser.add_argument("--reap", action="store_true", help="kill every descendant when the serving process ends")
    args = parser.parse_args(argv)
    liveness = (args.liveness_in_fd, args.liveness_out_fd)
    if (liveness[0] is None) != (liveness[1] is None):
        parser.error("--liveness-in-fd and --liveness-out-fd go together")
    fds = [args.in_fd, args.out_fd, *(fd for fd in liveness if fd is not None)]
    for fd in fds:
        try:
            os.fstat(fd)
        except OSError:
            print(
                f"inferkit_bridge: file descriptor {fd} is not open; this module is started by "
                "@inferkit/runner-python (or a client that opens the frame pipes)",
                file=sys.stderr,
            )
            return EXIT_USAGE
        # Engines start subprocesses (vLLM's EngineCore); they must not hold the protocol pipes open.
        os.set_inheritable(fd, False)
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(line_buffering=True)
    if args.reap:
        reaper.start(tuple(fds))
    try:
        return asyncio.run(serve(args.in_fd, args.out_fd, liveness if liveness[0] is not None else None))
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    # Engines can leave non-daemon threads behind (a generation thread stuck in CUDA); they must
    # not keep a worker alive after its loop has finished.
    os._exit(code)
