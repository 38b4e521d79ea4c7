"""Server memory under uploads far over COGNATE_MAX_BODY_BYTES, on real sockets.

For each server (daphne as `make run` starts it; uvicorn as the README's production command,
4 workers) the client sends several 1 GiB POST bodies, to /aws and to a Django path
(/accounts/login/), each once with a Content-Length and once chunked. The bytes are made on
the fly from one 1 MiB buffer (the client never holds the body) and the client sends all of
them before it reads the answer, as urllib, requests and the AWS SDKs do: the worst case for
the server. A thread samples the server's resident memory (VmRSS of the process and its
children, from /proc) every 20 ms; the script prints it before, at its peak during, and
after each upload, with the answer the client got.

    python bench/upload.py
    python bench/upload.py --servers daphne --gib 2 --rounds 3

Servers are started by the script with the current environment (DATABASE_URL if set).
"""

import argparse
import http.client
import os
import platform
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.support import servers

MIB = 1024 * 1024
PIECE = b"x" * MIB

TARGETS = {
    "/aws": (
        "/aws",
        [
            ("Content-Type", "application/x-amz-json-1.1"),
            ("X-Amz-Target", "AWSCognitoIdentityService.GetId"),
        ],
    ),
    "Django": ("/accounts/login/", [("Content-Type", "application/x-www-form-urlencoded")]),
}


def rss_mib(pid: int) -> float:
    """Resident memory of a process and all its descendants, in MiB."""
    total_kib = 0
    pending = [pid]
    while pending:
        each = pending.pop()
        try:
            with open(f"/proc/{each}/status") as status:
                for line in status:
                    if line.startswith("VmRSS:"):
                        total_kib += int(line.split()[1])
            for task in os.listdir(f"/proc/{each}/task"):
                with open(f"/proc/{each}/task/{task}/children") as children:
                    pending += [int(child) for child in children.read().split()]
        except (FileNotFoundError, ProcessLookupError):
            continue
    return total_kib / 1024


class Sampler(threading.Thread):
    """The peak RSS of a process tree since the last reset."""

    def __init__(self, pid: int):
        super().__init__(daemon=True)
        self.pid = pid
        self.peak = 0.0
        self.running = True

    def reset(self) -> float:
        self.peak = rss_mib(self.pid)
        return self.peak

    def run(self) -> None:
        while self.running:
            self.peak = max(self.peak, rss_mib(self.pid))
            time.sleep(0.02)


def upload(port: int, path: str, headers: list, size: int, chunked: bool) -> tuple[str, int]:
    """Send a POST of `size` bytes, all of it unless the server closes first, then read the
    answer. (answer or error, bytes of body sent)."""
    head = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", *(f"{k}: {v}" for k, v in headers)]
    head.append("Transfer-Encoding: chunked" if chunked else f"Content-Length: {size}")
    sent = 0
    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
        try:
            sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
            while sent < size:
                piece = PIECE[: size - sent]
                if chunked:
                    sock.sendall(b"%x\r\n" % len(piece))
                sock.sendall(piece)
                if chunked:
                    sock.sendall(b"\r\n")
                sent += len(piece)
            if chunked:
                sock.sendall(b"0\r\n\r\n")
        except OSError as error:
            return f"send failed: {type(error).__name__}", sent
        try:
            response = http.client.HTTPResponse(sock)
            response.begin()
            response.read()
            return f"{response.status} {response.reason}", sent
        except (OSError, http.client.HTTPException) as error:
            return f"no answer: {type(error).__name__}", sent


def run_server(name: str, args) -> None:
    workers = args.uvicorn_workers if name == "uvicorn" else 1
    limit = os.environ.get("COGNATE_MAX_BODY_BYTES", "1572864 (default)")
    with (
        tempfile.TemporaryDirectory() as tmp,
        servers.cognate(Path(tmp), workers=workers, server_command=name, label="upload") as live,
    ):
        port = int(live.url.rsplit(":", 1)[1])
        pid = live.processes[0].pid
        sampler = Sampler(pid)
        sampler.start()
        # Warm every process up (imports, first answers) with small uploads of each kind,
        # over the limit, before the first figure.
        for _ in range(4 * workers):
            for path, headers in TARGETS.values():
                for chunked in (False, True):
                    upload(port, path, headers, 4 * MIB, chunked)
        time.sleep(1)
        started = rss_mib(pid)
        print(f"\n{name} ({workers} process{'es' if workers > 1 else ''}), limit {limit} bytes")
        print(f"RSS at start: {started:.0f} MiB")
        print("| upload | answer | sent | seconds | RSS before | peak during | after |")
        print("|---|---|---|---|---|---|---|")
        size = int(args.gib * 1024 * MIB)
        for round_ in range(args.rounds):
            for target, (path, headers) in TARGETS.items():
                for chunked in (False, True):
                    before = sampler.reset()
                    began = time.monotonic()
                    answer, sent = upload(port, path, headers, size, chunked)
                    seconds = time.monotonic() - began
                    peak = sampler.peak
                    time.sleep(args.settle)
                    after = rss_mib(pid)
                    kind = "chunked" if chunked else "Content-Length"
                    print(
                        f"| {round_ + 1}: {target}, {kind} | {answer} | {sent / MIB:,.0f} MiB "
                        f"| {seconds:.1f} | {before:.0f} MiB | {max(peak, before):.0f} MiB "
                        f"| {after:.0f} MiB |",
                        flush=True,
                    )
        sampler.running = False
        print(f"RSS at the end: {rss_mib(pid):.0f} MiB (start {started:.0f} MiB)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--servers", nargs="+", default=["daphne", "uvicorn"])
    parser.add_argument("--gib", type=float, default=1.0, help="size of each upload in GiB")
    parser.add_argument("--rounds", type=int, default=2, help="uploads of each kind")
    parser.add_argument("--uvicorn-workers", type=int, default=4)
    parser.add_argument("--settle", type=float, default=2.0, help="seconds before 'after'")
    args = parser.parse_args()
    load = os.getloadavg()
    print(
        f"{platform.node()}: {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"load average {load[0]:.2f} at start, {time.strftime('%Y-%m-%d %H:%M %Z')}"
    )
    for name in args.servers:
        run_server(name, args)


if __name__ == "__main__":
    main()
