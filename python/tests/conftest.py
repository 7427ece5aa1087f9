"""The installation the integration tests run against.

A session fixture builds the ofs binary from the repository and starts its
registry and ingest processors and a feature server on the dev Kafka, etcd
and Redis (addresses from the environment, else from .dev/services.env at the
repository root), under a topic prefix and Redis key prefix of this run's
own, and applies examples/registry.yaml. When a service is missing the tests
that need it are skipped, or fail when CI=true or OFS_REQUIRE_SERVICES=1.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest

import ofs

ROOT = Path(__file__).resolve().parents[2]


def required() -> bool:
    """Whether a missing service fails the tests instead of skipping them."""
    return os.environ.get("CI") == "true" or os.environ.get("OFS_REQUIRE_SERVICES") == "1"


def lookup(key: str) -> str:
    """A dev service setting: the environment first, then services.env."""
    v = os.environ.get(key, "")
    if v:
        return v
    path = Path(os.environ["OFS_DEV_DIR"]) / "services.env" if os.environ.get("OFS_DEV_DIR") else ROOT / ".dev" / "services.env"
    try:
        for line in path.read_text().splitlines():
            name, sep, value = line.strip().partition("=")
            if sep and name == key:
                return value.strip().strip('"')
    except OSError:
        pass
    return ""


class Missing(Exception):
    pass


def service(key: str) -> list[str]:
    v = lookup(key)
    if not v:
        raise Missing(f"{key} is not configured; start the services with `go tool task services:up`")
    addrs = v.split(",")
    host, _, port = addrs[0].rpartition(":")
    try:
        socket.create_connection((host, int(port)), timeout=3).close()
    except OSError as e:
        raise Missing(f"{key} at {addrs[0]}: {e}") from e
    return addrs


def free_port() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{s.getsockname()[1]}"


def wait_serving(addr: str, within: float = 120.0) -> None:
    """Wait for grpc.health.v1 SERVING (the response is field 1 = 1)."""
    deadline = time.monotonic() + within
    with grpc.insecure_channel(addr) as ch:
        check = ch.unary_unary("/grpc.health.v1.Health/Check", request_serializer=None, response_deserializer=None)
        last: Exception | None = None
        while time.monotonic() < deadline:
            try:
                if check(b"", timeout=2) == b"\x08\x01":
                    return
            except grpc.RpcError as e:
                last = e
            time.sleep(0.2)
    raise RuntimeError(f"server at {addr} not SERVING within {within}s: {last}")


@dataclass
class Installation:
    addr: str
    brokers: list[str]
    prefix: str
    binary: Path
    env: dict[str, str]
    """The environment the ofs processes run with (for more `ofs` commands)."""


def _setup(dir: Path, procs: list[subprocess.Popen], logs: list[Path]) -> Installation:
    brokers = service("OFS_KAFKA_BROKERS")
    etcd = service("OFS_ETCD_ENDPOINTS")
    redis = service("OFS_REDIS_ADDR")
    binary = dir / "ofs"
    build = subprocess.run(["go", "build", "-o", str(binary), "./cmd/ofs"], cwd=ROOT, capture_output=True, text=True)
    if build.returncode:
        raise RuntimeError(f"go build: {build.stdout}{build.stderr}")
    prefix = "t_py_" + secrets.token_hex(4)
    config = dir / "ofs.yaml"
    config.write_text(
        f'kafka:\n  feature_partitions: 2\nstores:\n  default:\n    redis:\n      addrs: ["{redis[0]}"]\n      key_prefix: "{prefix}:"\n'
    )
    addr = free_port()
    env = dict(
        os.environ,
        OFS_CONFIG=str(config),
        OFS_KAFKA_BROKERS=",".join(brokers),
        OFS_ETCD_ENDPOINTS=",".join(etcd),
        OFS_PREFIX=prefix,
        OFS_GRPC_ADDR=addr,
        OFS_LOG_LEVEL="warn",
    )
    for i, args in enumerate((["process", "registry", "ingest"], ["serve"])):
        log = dir / f"ofs-{i}.log"
        logs.append(log)
        with open(log, "wb") as out:
            # Each process gets a metrics port of its own.
            penv = dict(env, OFS_METRICS_ADDR=free_port())
            procs.append(subprocess.Popen([str(binary), *args], env=penv, stdout=out, stderr=subprocess.STDOUT))
    wait_serving(addr)
    apply = subprocess.run([str(binary), "apply", "-f", str(ROOT / "examples" / "registry.yaml")], env=env, capture_output=True, text=True)
    if apply.returncode:
        raise RuntimeError(f"ofs apply: {apply.stdout}{apply.stderr}")
    return Installation(addr=addr, brokers=brokers, prefix=prefix, binary=binary, env=env)


def _drop_keys(prefix: str) -> None:
    redis = lookup("OFS_REDIS_ADDR").split(",")[0]
    cli = shutil.which("redis-cli")
    if not redis or not cli:
        return
    host, _, port = redis.rpartition(":")
    keys = subprocess.run([cli, "-h", host, "-p", port, "--scan", "--pattern", f"{prefix}:*"], capture_output=True, text=True).stdout.split()
    for i in range(0, len(keys), 500):
        subprocess.run([cli, "-h", host, "-p", port, "DEL", *keys[i : i + 500]], capture_output=True)


@pytest.fixture(scope="session")
def ofs_install() -> Iterator[Installation]:
    """The running installation; skips (or fails, where required) without services."""
    dir = Path(tempfile.mkdtemp(prefix="ofs-py"))
    procs: list[subprocess.Popen] = []
    logs: list[Path] = []
    inst: Installation | None = None
    try:
        try:
            inst = _setup(dir, procs, logs)
        except Missing as e:
            if required():
                pytest.fail(f"services required (CI=true or OFS_REQUIRE_SERVICES=1): {e}")
            pytest.skip(str(e))
        except Exception as e:
            out = "".join(f"\n--- {p.name}\n{p.read_text(errors='replace')}" for p in logs if p.exists())
            pytest.fail(f"setup: {e}{out}")
        yield inst
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()
        if inst is not None:
            _drop_keys(inst.prefix)
        shutil.rmtree(dir, ignore_errors=True)


@pytest.fixture(scope="module")
def client(ofs_install: Installation) -> Iterator[ofs.Client]:
    """A client of the installation's feature server."""
    with ofs.Client(ofs_install.addr, timeout=30) as c:
        yield c


def wait_found(client: ofs.Client, entity: str, keys: list, group: str, within: float = 90.0) -> ofs.RetrieveResult:
    """Retrieve ``keys`` until every row of ``group`` is found (the ingest
    processor has written them) or ``within`` seconds pass; the last answer."""
    deadline = time.monotonic() + within
    while True:
        res = client.retrieve(entity, keys, [group])
        if res.found(group).all() or time.monotonic() > deadline:
            return res
        time.sleep(0.25)
