"""Building the redis-py client of ``RedisStore``: plain, Sentinel or Cluster,
with ``STORE_TIMEOUT`` as socket timeouts and redis-py's own retries off."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlparse

import redis
from redis.backoff import NoBackoff
from redis.cluster import ClusterNode
from redis.retry import Retry

from drf_toctou.settings import toctou_settings


def _url_kwargs(url: str) -> dict[str, Any]:
    """What a URL says besides the address (TLS, credentials), for a cluster client."""
    parsed = urlparse(url)
    found: dict[str, Any] = {"ssl": True} if parsed.scheme == "rediss" else {}
    if parsed.username:
        found["username"] = parsed.username
    if parsed.password:
        found["password"] = parsed.password
    return found


def build_client(options: dict[str, Any], cluster: bool) -> Any:
    """The redis-py client ``RedisStore``'s options describe (not yet connected,
    except a cluster client, which contacts its nodes when built)."""
    timeout = float(toctou_settings.STORE_TIMEOUT)
    kwargs = {
        "socket_timeout": timeout,
        "socket_connect_timeout": timeout,
        "retry": Retry(NoBackoff(), 0),
        **options.get("client_kwargs", {}),
    }
    if options.get("sentinels"):
        sentinel = redis.Sentinel(options["sentinels"], sentinel_kwargs=kwargs, **kwargs)
        return sentinel.master_for(options["service_name"], **kwargs)
    if cluster:
        if int(redis.__version__.split(".")[0]) < 6:  # redis-py 5 retries cluster errors on its own
            kwargs.setdefault("cluster_error_retry_attempts", 0)
        urls = options["url"] if isinstance(options["url"], (list, tuple)) else [options["url"]]
        nodes = [ClusterNode(parsed.hostname or "127.0.0.1", parsed.port or 6379) for parsed in map(urlparse, urls)]
        return redis.RedisCluster(startup_nodes=nodes, **{**_url_kwargs(urls[0]), **kwargs})
    return redis.Redis.from_url(options["url"], **kwargs)
