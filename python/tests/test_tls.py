"""The SDK against a feature server with mutual TLS and tokens.

The certificates come from a test CA made with the openssl command line; the
server is a second `ofs serve` of the installation, configured with
grpc.tls and auth tokens.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

import ofs
from conftest import Installation, free_port, lookup, required


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def _certs(dir: Path) -> None:
    """ca.pem, server.pem/server-key.pem (127.0.0.1, localhost), client.pem/client-key.pem."""
    _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "1",
             "-subj", "/CN=ofs test CA", "-keyout", "ca-key.pem", "-out", "ca.pem", cwd=dir)
    for name, ext in (("server", "subjectAltName=IP:127.0.0.1,DNS:localhost"), ("client", "extendedKeyUsage=clientAuth")):
        _openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-subj", f"/CN=ofs test {name}",
                 "-keyout", f"{name}-key.pem", "-out", f"{name}.csr", cwd=dir)
        (dir / f"{name}.ext").write_text(ext + "\n")
        _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca-key.pem", "-CAcreateserial",
                 "-days", "1", "-extfile", f"{name}.ext", "-out", f"{name}.pem", cwd=dir)


@pytest.fixture(scope="module")
def tls_server(ofs_install: Installation, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    if shutil.which("openssl") is None:
        if required():
            pytest.fail("openssl is not installed")
        pytest.skip("openssl is not installed")
    dir = tmp_path_factory.mktemp("tls")
    _certs(dir)
    redis = lookup("OFS_REDIS_ADDR").split(",")[0]
    config = dir / "ofs.yaml"
    config.write_text(
        "kafka:\n  feature_partitions: 2\n"  # as the installation's
        "grpc:\n  tls:\n"
        f"    cert_file: {dir / 'server.pem'}\n    key_file: {dir / 'server-key.pem'}\n    ca_file: {dir / 'ca.pem'}\n"
        "auth:\n  reader_tokens: [r-secret]\n  writer_tokens: [w-secret]\n"
        f'stores:\n  default:\n    redis:\n      addrs: ["{redis}"]\n      key_prefix: "{ofs_install.prefix}:"\n'
    )
    addr = free_port()
    env = dict(ofs_install.env, OFS_CONFIG=str(config), OFS_GRPC_ADDR=addr, OFS_METRICS_ADDR=free_port())
    log = dir / "serve.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([str(ofs_install.binary), "serve"], env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        try:
            _wait_serving_tls(addr, _creds(dir, client_cert=True))
        except ofs.OfsError as e:
            pytest.fail(f"ofs serve with TLS: {e}\n{log.read_text(errors='replace')}")
        yield addr, dir
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()


def _creds(dir: Path, client_cert: bool) -> grpc.ChannelCredentials:
    ca = (dir / "ca.pem").read_bytes()
    if not client_cert:
        return grpc.ssl_channel_credentials(root_certificates=ca)
    return grpc.ssl_channel_credentials(
        root_certificates=ca,
        private_key=(dir / "client-key.pem").read_bytes(),
        certificate_chain=(dir / "client.pem").read_bytes(),
    )


def _wait_serving_tls(addr: str, creds: grpc.ChannelCredentials, within: float = 120.0) -> None:
    """Wait until a registry read over TLS, with a reader's token, answers."""
    deadline = time.monotonic() + within
    with ofs.Client(addr, token="r-secret", credentials=creds, timeout=5, max_attempts=1) as c:
        while True:
            try:
                c.entity("user")
                return
            except ofs.OfsError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)


def test_mutual_tls_with_tokens(tls_server: tuple[str, Path]) -> None:
    addr, dir = tls_server
    with ofs.Client(addr, token="w-secret", credentials=_creds(dir, client_cert=True), timeout=30) as c:
        assert c.persist("user_activity", [{"keys": {"user_id": 4242}, "values": {"clicks_1h": 9}}]) == 1
        res = c.retrieve("user", [4242], ["user_activity"])
        assert bool(res.found("user_activity")[0])
        assert int(res.column("clicks_1h")[0]) == 9

    # A reader's token may read, not write.
    with ofs.Client(addr, token="r-secret", credentials=_creds(dir, client_cert=True), timeout=30) as c:
        assert int(c.retrieve("user", [4242], ["user_activity"]).column("clicks_1h")[0]) == 9
        with pytest.raises(ofs.OfsError) as e:
            c.persist("user_activity", [{"keys": {"user_id": 4242}, "values": {"clicks_1h": 1}}])
        assert e.value.code == grpc.StatusCode.PERMISSION_DENIED

    # Without a client certificate, or in plain text, nothing gets through.
    for creds in (_creds(dir, client_cert=False), None):
        with ofs.Client(addr, token="r-secret", credentials=creds, timeout=3, max_attempts=1) as c:
            with pytest.raises(ofs.OfsError) as e:
                c.retrieve("user", [4242], ["user_activity"])
            assert e.value.code == grpc.StatusCode.UNAVAILABLE
