"""Real servers for tests and benchmarks: Cognate under its ASGI server on a fresh database,
and moto's server. Each binds 127.0.0.1 on a free port and is stopped on exit."""

import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
# Every test and benchmark client comes from 127.0.0.1, so the servers lift the new-guest
# limits unless the caller sets them (the tests of the limits do; bench/flood.py keeps the
# shipped defaults).
GUEST_LIMITS = ("COGNATE_GUEST_RATE_LIMIT", "COGNATE_GUEST_BURST_LIMIT", "COGNATE_GUEST_POOL_LIMIT")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(url: str, timeout: float = 60, process: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode} before answering {url}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status < 500:
                    return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer within {timeout} s")


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextlib.contextmanager
def fresh_database(label: str, tmp: Path) -> Iterator[str]:
    """A new, empty database URL: a database on the PostgreSQL of DATABASE_URL when that is
    set, else an SQLite file; removed afterwards."""
    base = os.environ.get("DATABASE_URL", "")
    if not base.startswith(("postgres://", "postgresql://")):
        yield f"sqlite:///{tmp / f'{label}.sqlite3'}"
        return
    import psycopg

    name = f"cognate_{label}_{secrets.token_hex(4)}"
    parts = urlsplit(base)
    admin_url = urlunsplit(parts._replace(scheme="postgresql"))
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield urlunsplit(parts._replace(path=f"/{name}"))
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@dataclass
class Cognate:
    url: str
    env: dict[str, str]
    processes: list[subprocess.Popen] = field(default_factory=list)
    # Every server process, when several share the database (and Redis).
    urls: list[str] = field(default_factory=list)
    workers: int = 1
    server_command: str | None = None
    logs: list[Path] = field(default_factory=list)

    @property
    def endpoint(self) -> str:
        return f"{self.url}/aws"

    @property
    def ws_url(self) -> str:
        return self.url.replace("http://", "ws://") + "/ws/sync"

    def start(self, url: str, log: Path) -> None:
        """Start one more server process on `url`'s port, and wait until it answers."""
        port = urlsplit(url).port
        assert port is not None
        process = start_asgi(
            self.env, port, workers=self.workers, log=log, server=self.server_command
        )
        self.processes.append(process)
        self.urls.append(url)
        self.logs.append(log)
        wait_for(f"{url}/healthz", process=process)

    def restart(self, *, kill: bool = False) -> None:
        """Stop every server process and start it again on the same port, database and
        environment. With `kill`, SIGKILL: no shutdown at all, as when a machine dies."""
        previous = list(zip(self.processes, self.urls, self.logs, strict=True))
        self.processes, self.urls, self.logs = [], [], []
        for process, _, _ in previous:
            if kill:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)  # uvicorn's workers too
                process.wait()
            else:
                stop(process)
        for _, url, log in previous:
            self.start(url, log)

    def manage(self, *args: str, check: bool = True, input: str | None = None):
        return subprocess.run(
            [PYTHON, "manage.py", *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            check=check,
            input=input,
        )


def server_env(database_url: str, **extra: str) -> dict[str, str]:
    inherited = {k: v for k, v in os.environ.items() if k != "CACHE_URL"}
    env = {
        **inherited,
        "DATABASE_URL": database_url,
        "SECRET_KEY": os.environ.get("SECRET_KEY") or secrets.token_urlsafe(40),
        "DEBUG": "false",
        "REDIS_KEY_PREFIX": f"cognate-test-{secrets.token_hex(4)}",
        "PYTHONUNBUFFERED": "1",
        # Test providers and webhooks listen on 127.0.0.1 (tests of the refusal turn it off).
        "COGNATE_OUTBOUND_ALLOW_PRIVATE_ADDRESSES": "true",
        **extra,
    }
    return env


def start_asgi(
    env: dict[str, str],
    port: int,
    *,
    workers: int = 1,
    log: Path | None = None,
    server: str | None = None,
):
    """The server commands: `make run`'s daphne for one process, the production uvicorn
    command for several (or whichever `server` names)."""
    server = server or ("uvicorn" if workers > 1 else "daphne")
    if server == "uvicorn":
        command = [
            PYTHON,
            "-m",
            "uvicorn",
            "config.asgi:application",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            str(workers),
            "--no-access-log",
            "--no-date-header",
            "--ws-max-size",
            env.get("SYNC_WS_MAX_MESSAGE_BYTES", str(1024 * 1024)),
            "--log-level",
            "warning",
        ]
    else:
        command = [
            PYTHON,
            "-m",
            "daphne",
            "-b",
            "127.0.0.1",
            "-p",
            str(port),
            "-v",
            "0",
            "config.asgi:application",
        ]
    output = open(log, "ab") if log else subprocess.DEVNULL  # noqa: SIM115
    # A session of its own, so that a kill can reach every process of the server.
    return subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=output, stderr=output, start_new_session=True
    )


@contextlib.contextmanager
def cognate(
    tmp: Path,
    *,
    workers: int = 1,
    processes: int = 1,
    label: str = "live",
    server_command: str | None = None,
    port: int | None = None,
    lift_guest_limits: bool = True,
    **extra_env: str,
):
    """Cognate on a fresh database: one ASGI server (uvicorn with `workers` workers, or
    daphne), or `processes` separate daphne servers on their own ports sharing the database
    and the REDIS_URL of the environment."""
    if lift_guest_limits:
        for name in GUEST_LIMITS:
            extra_env.setdefault(name, "1000000")
    with fresh_database(label, tmp) as database_url:
        port = port or free_port()
        url = f"http://127.0.0.1:{port}"
        if not os.environ.get("REDIS_URL"):
            extra_env.setdefault("CACHE_URL", f"filecache://{tmp / f'{label}-cache'}")
        server = Cognate(
            url=url,
            env=server_env(
                database_url,
                COGNATE_ISSUER_URL=url,
                ALLOWED_HOSTS="127.0.0.1,localhost",
                **extra_env,
            ),
            workers=workers,
            server_command=server_command,
        )
        server.manage("migrate", "--noinput")
        ports = [port] + [free_port() for _ in range(processes - 1)]
        try:
            for number, each in enumerate(ports):
                server.start(f"http://127.0.0.1:{each}", tmp / f"{label}-{number}.log")
            yield server
        finally:
            for process in server.processes:
                stop(process)


@contextlib.contextmanager
def cognate_server(
    *, workers: int = 1, lift_guest_limits: bool = True, **extra_env: str
) -> Iterator[tuple[str, str]]:
    """For benchmarks: (endpoint, demo pool id) of a fresh server."""
    import tempfile

    with (
        tempfile.TemporaryDirectory() as tmp,
        cognate(
            Path(tmp),
            workers=workers,
            label="bench",
            lift_guest_limits=lift_guest_limits,
            **extra_env,
        ) as server,
    ):
        out = server.manage("ensure_demo_pool", "--endpoint", server.endpoint).stdout
        pool_id = out.split("Demo identity pool: ")[1].split()[0]
        yield server.endpoint, pool_id


@contextlib.contextmanager
def moto() -> Iterator[str]:
    """moto's server (any credentials, e.g. "testing"): its endpoint."""
    port = free_port()
    process = subprocess.Popen(
        [PYTHON, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        endpoint = f"http://127.0.0.1:{port}"
        wait_for(f"{endpoint}/moto-api/", process=process)
        yield endpoint
    finally:
        stop(process)


def kinesis_records(kinesis, stream: str) -> list[dict]:
    """Every record in a Kinesis stream (moto's), oldest first per shard."""
    out = []
    for shard in kinesis.list_shards(StreamName=stream)["Shards"]:
        iterator = kinesis.get_shard_iterator(
            StreamName=stream, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        while iterator:
            got = kinesis.get_records(ShardIterator=iterator, Limit=10_000)
            if not got["Records"]:
                break
            out += got["Records"]
            iterator = got.get("NextShardIterator")
    return out


@contextlib.contextmanager
def moto_server() -> Iterator[tuple[str, str]]:
    """moto's server with one identity pool that allows guests: (endpoint, pool id)."""
    import boto3

    with moto() as endpoint:
        client = boto3.client(
            "cognito-identity",
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        pool = client.create_identity_pool(
            IdentityPoolName="bench", AllowUnauthenticatedIdentities=True
        )
        yield endpoint, pool["IdentityPoolId"]


@contextlib.contextmanager
def celery_worker(server: Cognate, log: Path | None = None) -> Iterator[subprocess.Popen]:
    """A real Celery worker (solo pool) on the server's environment and queue."""
    output = open(log, "ab") if log else subprocess.DEVNULL  # noqa: SIM115
    worker = subprocess.Popen(
        [
            str(ROOT / ".venv/bin/celery"),
            "-A",
            "config",
            "worker",
            "--pool",
            "solo",
            "-Q",
            server.env["REDIS_KEY_PREFIX"],
            "--loglevel",
            "warning",
        ],
        cwd=ROOT,
        env=server.env,
        stdout=output,
        stderr=subprocess.STDOUT,
    )
    try:
        yield worker
    finally:
        stop(worker)
