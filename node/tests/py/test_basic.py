"""redis-py against a real meridian server (connection/server commands)."""

import socket
import time

import pytest
import redis

from conftest import MeridianServer, client


def test_ping_echo(server):
    r = client(server)
    assert r.ping() is True
    assert r.echo("hello") == b"hello"
    assert r.echo(b"\x00\xff") == b"\x00\xff"


@pytest.mark.parametrize("protocol", [2, 3])
def test_protocols(server, protocol):
    r = client(server, protocol=protocol, decode_responses=True)
    assert r.ping()
    r.client_setname("py")
    assert r.client_getname() == "py"
    info = r.client_info()
    assert info["name"] == "py"
    assert int(info["resp"]) == protocol
    cfg = r.config_get("maxclients")
    assert cfg == {"maxclients": "10000"}


def test_errors(server):
    r = client(server)
    with pytest.raises(redis.ResponseError, match="unknown command 'FOO', with args beginning with: 'a' "):
        r.execute_command("FOO", "a")
    with pytest.raises(redis.ResponseError, match="wrong number of arguments for 'echo' command"):
        r.execute_command("ECHO")
    with pytest.raises(redis.ResponseError, match="DB index is out of range"):
        r.execute_command("SELECT", 16)
    assert r.ping()


def test_select_and_dbsize(server):
    r = client(server, db=5)
    assert r.dbsize() == 0
    assert int(r.client_info()["db"]) == 5


def test_info_and_config(server):
    r = client(server)
    info = r.info()
    assert info["redis_mode"] == "standalone"
    assert info["tcp_port"] == server.port
    assert "connected_clients" in info
    stats = r.info("commandstats")
    assert "cmdstat_info" in stats
    assert r.config_set("timeout", 0)
    assert r.config_get("time*") == {"timeout": "0"}
    assert r.config_resetstat()


def test_client_list_and_kill(server):
    a = client(server)
    b = client(server)
    a.client_setname("victim")
    victim = [c for c in b.client_list() if c["name"] == "victim"]
    assert len(victim) == 1
    assert b.client_kill_filter(_id=victim[0]["id"]) == 1
    # redis-py reconnects transparently, so look from the other side.
    deadline = time.monotonic() + 10
    while any(c["id"] == victim[0]["id"] for c in b.client_list()):
        assert time.monotonic() < deadline, "killed client still listed"
        time.sleep(0.02)


def test_pipeline(server):
    r = client(server)
    pipe = r.pipeline(transaction=False)
    for i in range(200):
        pipe.echo(str(i))
    assert pipe.execute() == [str(i).encode() for i in range(200)]


def test_command_introspection(server):
    r = client(server)
    assert r.command_count() >= 15
    commands = r.command()  # parsed by redis-py's COMMAND parser
    assert commands["ping"]["arity"] == -1
    assert "fast" in [f if isinstance(f, str) else f.decode() for f in commands["ping"]["flags"]]
    assert "client|kill" in [n.decode() for n in r.command_list()]
    t = r.time()
    assert t[0] > 1_600_000_000


def test_protocol_error_closes_only_that_connection(server):
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
        s.sendall(b"*1\r\n$x\r\n")
        data = b""
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
        assert data == b"-ERR Protocol error: invalid bulk length\r\n"
    assert client(server).ping()


def test_maxclients():
    s = MeridianServer("--maxclients", "1")
    try:
        first = client(s)
        assert first.ping()
        with socket.create_connection(("127.0.0.1", s.port), timeout=10) as sock:
            assert sock.recv(100) == b"-ERR max number of clients reached\r\n"
    finally:
        s.stop()


def test_shutdown():
    s = MeridianServer()
    r = client(s)
    try:
        r.shutdown(nosave=True)
    except redis.ConnectionError:
        pass
    assert s.proc.wait(timeout=10) == 0
