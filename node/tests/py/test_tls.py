"""redis-py over TLS (`tls-port`) with a client certificate; certificates are made with
the openssl command-line tool (installed by scripts/install-deps)."""

import socket
import ssl
import subprocess

import pytest
import redis

from conftest import MeridianServer, free_port


def openssl(*args: str, cwd) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    d = tmp_path_factory.mktemp("tls")
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            "-subj", "/CN=Meridian test CA", "-keyout", "ca.key", "-out", "ca.pem", cwd=d)
    (d / "server.ext").write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n"
                                  "extendedKeyUsage=serverAuth\n")
    (d / "client.ext").write_text("extendedKeyUsage=clientAuth\n")
    for name in ("server", "client"):
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={name}",
                "-keyout", f"{name}.key", "-out", f"{name}.csr", cwd=d)
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                "-CAcreateserial", "-days", "2", "-extfile", f"{name}.ext",
                "-out", f"{name}.pem", cwd=d)
    return d


@pytest.fixture(scope="module")
def tls_server(pki):
    port = free_port()
    s = MeridianServer("--tls-port", str(port),
                       "--tls-cert-file", str(pki / "server.pem"),
                       "--tls-key-file", str(pki / "server.key"),
                       "--tls-ca-cert-file", str(pki / "ca.pem"))
    s.tls_port = port
    yield s
    s.stop()


def tls_client(pki, tls_port, cert=True):
    kw = {}
    if cert:
        kw = {"ssl_certfile": str(pki / "client.pem"), "ssl_keyfile": str(pki / "client.key")}
    return redis.Redis(host="127.0.0.1", port=tls_port, ssl=True,
                       ssl_ca_certs=str(pki / "ca.pem"), socket_timeout=10,
                       decode_responses=True, **kw)


def test_commands_over_tls(pki, tls_server):
    r = tls_client(pki, tls_server.tls_port)
    assert r.ping()
    assert r.set("tls:py", "v1")
    p = r.pipeline(transaction=True)
    p.incr("tls:n")
    p.hset("tls:h", mapping={"a": "1", "b": "2"})
    p.hgetall("tls:h")
    assert p.execute() == [1, 2, {"a": "1", "b": "2"}]
    plain = redis.Redis(host="127.0.0.1", port=tls_server.port, decode_responses=True)
    assert plain.get("tls:py") == "v1"
    big = "x" * (1 << 20)
    assert r.set("tls:big", big)
    assert r.get("tls:big") == big


def test_client_without_certificate_is_refused(pki, tls_server):
    r = tls_client(pki, tls_server.tls_port, cert=False)
    with pytest.raises((redis.exceptions.ConnectionError, ssl.SSLError, OSError)):
        r.ping()
    # The server keeps serving certified clients.
    assert tls_client(pki, tls_server.tls_port).ping()


def test_plain_text_on_tls_port_is_closed(tls_server):
    with socket.create_connection(("127.0.0.1", tls_server.tls_port), timeout=10) as s:
        s.sendall(b"PING\r\n")
        data = b""
        while True:
            try:
                chunk = s.recv(4096)
            except ConnectionResetError:
                break
            if not chunk:
                break
            data += chunk
        assert b"PONG" not in data
