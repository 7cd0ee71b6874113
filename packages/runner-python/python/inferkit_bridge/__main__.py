"""`python3 -m inferkit_bridge [--in-fd 3] [--out-fd 4]`: serve one engine over two pipes.

The Node side opens fd 3 (host -> worker frames) and fd 4 (worker -> host frames); stdout and
stderr stay free for the engine's own output, which the host turns into log lines.
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

from .server import serve  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python3 -m inferkit_bridge", description=__doc__)
    parser.add_argument("--in-fd", type=int, default=3, help="file descriptor the host writes frames to")
    parser.add_argument("--out-fd", type=int, default=4, help="file descriptor the worker writes frames to")
    args = parser.parse_args(argv)
    for fd in (args.in_fd, args.out_fd):
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
    try:
        return asyncio.run(serve(args.in_fd, args.out_fd))
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    # Engines can leave non-daemon threads behind (a generation thread stuck in CUDA); they must
    # not keep a worker alive after its loop has finished.
    os._exit(code)
