"""What the benchmark measures: the stores, and the in-process and end-to-end
configurations, as lists. A new store configuration is a new entry in STORES
and one row (or a few) in IN_PROCESS / END_TO_END; the runners and the report
take them from here."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# Stores by name: (dotted path, options). "{redis_tcp}" and "{redis_unix}" are
# replaced with the URLs of the benchmark's own redis-server (never the
# machine's Redis).
STORES: dict[str, tuple[str, dict[str, Any]]] = {
    "database": ("drf_toctou.stores.database.DatabaseStore", {}),
    "redis": ("drf_toctou.stores.redis.RedisStore", {"url": "{redis_tcp}"}),
    "redis-unix": ("drf_toctou.stores.redis.RedisStore", {"url": "{redis_unix}"}),
    "none": ("bench.stores.NoRoundTripStore", {}),
    "redis-sequential": ("bench.stores.SequentialRedisStore", {"url": "{redis_tcp}"}),
    "redis-near": ("drf_toctou.stores.redis.RedisStore", {"url": "{redis_tcp}", "near_cache": {"max_staleness": 0.005}}),
    # bench/near_steady.py: the cost at a larger staleness bound (a quarter of the PINGs)
    "redis-near-20ms": ("drf_toctou.stores.redis.RedisStore",
                        {"url": "{redis_tcp}", "near_cache": {"max_staleness": 0.020}}),
}

BASE_ME = "simplejwt JWTAuthentication (baseline)"
BASE_DETAIL = "detail GET: naive (JWTAuthentication + owner check)"


@dataclass(frozen=True)
class Config:
    """One measured configuration.

    ``token`` is the kind of credential minted for it right before each of its
    blocks or runs ("jwt": simplejwt AccessToken, "versioned": drf-toctou's
    VersionedAccessToken, "knox": a knox token); ``store`` names an entry of
    STORES (None: the configuration uses no drf-toctou store); ``base`` is the
    label of the row its ratio is taken to.
    """

    label: str
    path: str  # "{note}" is replaced with the benchmark note's primary key
    token: str
    store: str | None = None
    method: str = "get"
    base: str = BASE_ME


# --- in process ------------------------------------------------------------------

# The floors: one bare redis-py MGET of two keys, on the same Redis.
TIGHT = "floor: bare redis-py MGET, 2 keys (TCP)"
UNIX = "floor: bare redis-py MGET, 2 keys (unix socket)"
IN_CONTEXT = "floor in context: the same MGET timed between baseline requests (TCP)"
FLOORS = {TIGHT: "redis", UNIX: "redis-unix"}  # label → the store whose Redis it uses

REDIS_ME, REDIS_ME_UNIX = "drf-toctou RedisStore (TCP)", "drf-toctou RedisStore (unix socket)"
NO_TRIP_ME = "drf-toctou, a store with no round trip (our code alone)"
SEQUENTIAL_ME = "drf-toctou RedisStore (TCP), check not overlapped"
SEQUENTIAL_DETAIL = "detail GET: drf-toctou RedisStore (TCP), checks not overlapped"
REDIS_DETAIL, REDIS_DETAIL_UNIX = "detail GET: drf-toctou RedisStore (TCP)", "detail GET: drf-toctou RedisStore (unix)"
NO_TRIP_DETAIL = "detail GET: drf-toctou, a store with no round trip (our code alone)"
NEAR_ME = "drf-toctou RedisStore (TCP), near cache"
NEAR_DETAIL = "detail GET: drf-toctou RedisStore (TCP), near cache"
KNOX_ME, BLACKLIST_ME, DATABASE_ME = ("knox TokenAuthentication", "simplejwt + blacklist query per request",
                                      "drf-toctou DatabaseStore")

ME, NOTE = "/{name}/me/", "/{name}/notes/{{note}}/"


def me(label: str, name: str, token: str, store: str | None = None) -> Config:
    return Config(label, ME.format(name=name), token, store)


def detail(label: str, name: str, token: str, store: str | None = None, method: str = "get") -> Config:
    return Config(label, NOTE.format(name=name), token, store, method, BASE_DETAIL)


IN_PROCESS: list[Config] = [
    me("simplejwt JWTStatelessUserAuthentication (no DB)", "stateless", "jwt"),
    me(BASE_ME, "jwt", "jwt"),
    me(BLACKLIST_ME, "blacklist", "jwt"),
    me(KNOX_ME, "knox", "knox"),
    me(DATABASE_ME, "toctou", "versioned", "database"),
    me(REDIS_ME, "toctou", "versioned", "redis"),
    me(REDIS_ME_UNIX, "toctou", "versioned", "redis-unix"),
    me(NO_TRIP_ME, "toctou", "versioned", "none"),
    me(SEQUENTIAL_ME, "toctou", "versioned", "redis-sequential"),
    me(NEAR_ME, "toctou", "versioned", "redis-near"),
    detail(BASE_DETAIL, "jwt", "jwt"),
    detail("detail GET: knox + owner check", "knox", "knox"),
    detail("detail GET: blacklist + owner check", "blacklist", "jwt"),
    detail("detail GET: drf-toctou DatabaseStore", "toctou", "versioned", "database"),
    detail(REDIS_DETAIL, "toctou", "versioned", "redis"),
    detail(REDIS_DETAIL_UNIX, "toctou", "versioned", "redis-unix"),
    detail(NO_TRIP_DETAIL, "toctou", "versioned", "none"),
    detail(SEQUENTIAL_DETAIL, "toctou", "versioned", "redis-sequential"),
    detail(NEAR_DETAIL, "toctou", "versioned", "redis-near"),
    detail("PATCH: naive (read, check, save)", "jwt", "jwt", method="patch"),
    detail("PATCH: drf-toctou DatabaseStore (fenced)", "toctou", "versioned", "database", "patch"),
    detail("PATCH: drf-toctou RedisStore (conditional)", "toctou", "versioned", "redis", "patch"),
]

# --- end to end (gunicorn + wrk; one gunicorn per store named here) ----------------

E2E_BASE_ME, E2E_BASE_DETAIL = "simplejwt JWTAuthentication", "detail GET: naive"


def e2e_me(label: str, name: str, token: str, store: str | None = None) -> Config:
    return Config(label, ME.format(name=name), token, store, base=E2E_BASE_ME)


def e2e_detail(label: str, name: str, token: str, store: str | None = None) -> Config:
    return Config(label, NOTE.format(name=name), token, store, base=E2E_BASE_DETAIL)


END_TO_END: list[Config] = [
    e2e_me("simplejwt JWTStatelessUserAuthentication", "stateless", "jwt"),
    e2e_me(E2E_BASE_ME, "jwt", "jwt"),
    e2e_me("simplejwt + blacklist query", "blacklist", "jwt"),
    e2e_me("knox TokenAuthentication", "knox", "knox"),
    e2e_me("drf-toctou RedisStore", "toctou", "versioned", "redis"),
    e2e_me("drf-toctou RedisStore, near cache", "toctou", "versioned", "redis-near"),
    e2e_detail(E2E_BASE_DETAIL, "jwt", "jwt"),
    e2e_detail("detail GET: drf-toctou RedisStore", "toctou", "versioned", "redis"),
    e2e_detail("detail GET: drf-toctou RedisStore, near cache", "toctou", "versioned", "redis-near"),
]
