"""redis-py against a real meridian server: AUTH, requirepass, ACL users and permissions."""

import pytest
import redis

from conftest import MeridianServer


def client(port, **kw) -> redis.Redis:
    return redis.Redis(host="127.0.0.1", port=port, socket_timeout=10, decode_responses=True, **kw)


@pytest.fixture
def secured():
    s = MeridianServer("--requirepass", "topsecret")
    yield s
    s.stop()


@pytest.mark.parametrize("protocol", [2, 3])
def test_requirepass(secured, protocol):
    anon = client(secured.port, protocol=2)
    with pytest.raises(redis.AuthenticationError, match="Authentication required"):
        anon.ping()
    with pytest.raises(redis.AuthenticationError, match="invalid username-password pair"):
        client(secured.port, protocol=protocol, password="wrong").ping()
    ok = client(secured.port, protocol=protocol, password="topsecret")
    assert ok.ping() is True
    assert ok.acl_whoami() == "default"
    # The failed attempt is logged.
    log = ok.acl_log()
    assert log[0]["reason"] == "auth"
    assert log[0]["username"] == "default"


@pytest.mark.parametrize("protocol", [2, 3])
def test_users_and_permissions(server, protocol):
    admin = client(server.port, protocol=protocol)
    admin.flushall()
    admin.acl_deluser("reader")
    assert admin.acl_setuser(
        "reader",
        enabled=True,
        passwords=["+r1", "+r2"],
        commands=["+@read", "+@connection", "+acl|whoami"],
        keys=["app:*"],
        channels=["news.*"],
    )
    admin.set("app:1", "v")
    admin.set("other", "x")
    u = admin.acl_getuser("reader")
    assert "on" in u["flags"]
    assert len(u["passwords"]) == 2
    assert "~app:*" in u["keys"]
    for pw in ("r1", "r2"):
        reader = client(server.port, protocol=protocol, username="reader", password=pw)
        assert reader.get("app:1") == "v"
        assert reader.acl_whoami() == "reader"
    with pytest.raises(redis.exceptions.NoPermissionError, match="No permissions to access a key"):
        reader.get("other")
    with pytest.raises(
        redis.exceptions.NoPermissionError,
        match="User reader has no permissions to run the 'set' command",
    ):
        reader.set("app:1", "w")
    assert admin.get("app:1") == "v"
    # Rotation: drop r1; r2 keeps working.
    assert admin.acl_setuser("reader", enabled=True, passwords=["-r1"])
    with pytest.raises(redis.AuthenticationError):
        client(server.port, protocol=protocol, username="reader", password="r1").ping()
    assert client(server.port, protocol=protocol, username="reader", password="r2").ping()
    assert "reader" in admin.acl_users()
    assert admin.acl_dryrun("reader", "get", "app:1") == "OK"
    assert admin.acl_deluser("reader") == 1
    assert "reader" not in admin.acl_users()


def test_transaction_with_denied_command(server):
    admin = client(server.port)
    admin.acl_setuser("tx", enabled=True, passwords=["+pw"], commands=["+@all", "-set"], keys=["*"])
    c = client(server.port, username="tx", password="pw")
    # redis-py raises the queue-time error of an aborted transaction.
    with pytest.raises(redis.exceptions.NoPermissionError, match="set"):
        with c.pipeline(transaction=True) as p:
            p.incr("n").set("k", "v")
            p.execute()
    assert admin.exists("n") == 0
    admin.acl_deluser("tx")
