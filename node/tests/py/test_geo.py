"""redis-py against a real meridian server: geo commands (values as redis-server 7 prints them)."""

import pytest
import redis
from conftest import client


@pytest.fixture
def r(server):
    c = client(server, decode_responses=True)
    c.flushdb()
    c.geoadd("Sicily", [13.361389, 38.115556, "Palermo", 15.087269, 37.502669, "Catania"])
    return c


def test_positions_hashes_distances(r):
    assert r.zscore("Sicily", "Palermo") == 3479099956230698
    assert r.geopos("Sicily", "Palermo", "nope") == [
        (13.36138933897018433, 38.11555639549629859),
        None,
    ]
    assert r.geopos("Sicily", "Catania") == [(15.08726745843887329, 37.50266842333162032)]
    assert r.geohash("Sicily", "Palermo", "Catania") == ["sqc8b49rny0", "sqdtr74hyu0"]
    assert r.geodist("Sicily", "Palermo", "Catania") == 166274.1516
    assert r.geodist("Sicily", "Palermo", "Catania", "km") == 166.2742
    assert r.geodist("Sicily", "Palermo", "nope") is None
    assert r.geoadd("Sicily", [13.361389, 38.115556, "Palermo"], nx=True) == 0
    assert r.geoadd("Sicily", [13.4, 38.1, "Palermo"], xx=True, ch=True) == 1
    with pytest.raises(redis.ResponseError, match="invalid longitude,latitude pair"):
        r.geoadd("Sicily", [200, 10, "x"])
    with pytest.raises(redis.ResponseError, match="unsupported unit"):
        r.execute_command("GEODIST", "Sicily", "Palermo", "Catania", "parsec")
    r.set("s", "v")
    with pytest.raises(redis.ResponseError, match="WRONGTYPE"):
        r.geopos("s", "a")


def test_searches(r):
    assert r.geosearch("Sicily", longitude=15, latitude=37, radius=200, unit="km", sort="ASC") == [
        "Catania",
        "Palermo",
    ]
    res = r.geosearch(
        "Sicily", longitude=15, latitude=37, radius=200, unit="km", withdist=True, withcoord=True, sort="ASC"
    )
    assert res[0][0] == "Catania" and res[0][1] == 56.4413
    assert res[0][2] == (15.08726745843887329, 37.50266842333162032)
    assert r.geosearch("Sicily", member="Palermo", width=400, height=400, unit="km", sort="DESC") == [
        "Catania",
        "Palermo",
    ]
    assert r.geosearch("Sicily", longitude=15, latitude=37, radius=200, unit="km", count=1) == ["Catania"]
    assert r.georadius("Sicily", 15, 37, 200, unit="km", withdist=True, sort="ASC") == [
        ["Catania", 56.4413],
        ["Palermo", 190.4424],
    ]
    assert r.georadiusbymember("Sicily", "Palermo", 100, unit="km") == ["Palermo"]
    assert r.geosearchstore("dst", "Sicily", longitude=15, latitude=37, radius=200, unit="km", storedist=True) == 2
    assert r.zrange("dst", 0, -1) == ["Catania", "Palermo"]
    assert r.georadius("Sicily", 15, 37, 200, unit="km", store="dst2") == 2
    assert r.zscore("dst2", "Palermo") == 3479099956230698
    with pytest.raises(redis.ResponseError, match="could not decode requested zset member"):
        r.geosearch("Sicily", member="nope", radius=1, unit="km")
    with pytest.raises(redis.ResponseError, match="ANY argument requires COUNT"):
        r.execute_command("GEOSEARCH", "Sicily", "FROMLONLAT", 15, 37, "BYRADIUS", 1, "km", "ANY")
