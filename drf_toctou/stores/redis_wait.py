"""``RedisStore``'s acknowledged writes (``min_replicas_ack``): the write and a
``WAIT`` travel in one pipeline on the connection of the node holding the key
(``WAIT`` counts the writes of its own connection), and too few
acknowledgements are a ``StoreError``: the caller must not believe it revoked.

On a cluster the pipeline goes to one node's own client, which follows no
redirection by itself, so this module does: ``ASK`` (the slot is being
migrated and the key is already on the target) sends ``ASKING`` + the write +
``WAIT`` to the target; ``MOVED`` (the slot has moved) refreshes the client's
slot map and sends the write to the new owner. A redirected write was not
executed, so sending it again is safe. A node that can't be reached (killed,
failed over) refreshes the slot map too — else every later write would go to
the dead node — and is a ``StoreError`` at once: that write may have executed,
and a consume is not idempotent.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import redis

from drf_toctou.exceptions import StoreError
from drf_toctou.stores.redis_checks import STORE_ERRORS

REDIRECTIONS = 2  # ASK then MOVED is the most a slot on the move needs


def _redirection(error: BaseException) -> tuple[str, str, int] | None:
    """``("MOVED" | "ASK", host, port)`` when ``error`` redirects the command.
    redis-py 8 parses them into ``MovedError``/``AskError`` on any client;
    redis-py 5 only on cluster clients (a plain one raises ``ResponseError``)."""
    if not isinstance(error, redis.ResponseError):
        return None
    if isinstance(error, redis.exceptions.AskError):
        kind, reply = ("MOVED" if isinstance(error, redis.exceptions.MovedError) else "ASK"), str(error.message)
    else:
        kind, _, reply = str(error).partition(" ")
    if kind not in ("MOVED", "ASK"):
        return None
    try:
        host, port = reply.split(" ")[1].rsplit(":", 1)
        return kind, host, int(port)
    except (IndexError, ValueError):
        return None


class _Redirected(Exception):
    def __init__(self, kind: str, host: str, port: int) -> None:
        super().__init__(kind)
        self.kind, self.host, self.port = kind, host, port


def _acknowledged(client: Any, command: Callable[[Any], Any], replicas: int, timeout_ms: int,
                  asking: bool = False) -> Any:
    """``command`` then ``WAIT replicas timeout_ms`` in one pipeline on ``client``."""
    pipe = client.pipeline(transaction=False)
    if asking:
        pipe.execute_command("ASKING")
    command(pipe)
    pipe.execute_command("WAIT", replicas, timeout_ms)
    try:
        *replies, acked = pipe.execute(raise_on_error=False)
    except STORE_ERRORS as e:
        raise StoreError(f"redis store: {e}") from e
    reply = replies[-1]
    if isinstance(reply, Exception):
        moved = _redirection(reply)
        if moved is not None:
            raise _Redirected(*moved)
        raise StoreError(f"redis store: {reply}") from reply
    if isinstance(acked, Exception):
        raise StoreError(f"redis store: {acked}") from acked
    if int(acked) < replicas:
        raise StoreError(f"redis store: the write reached {acked} replica(s), {replicas} required (min_replicas_ack)")
    return reply


def acknowledged_write(client: Any, cluster: bool, key: bytes, command: Callable[[Any], Any], replicas: int,
                       timeout_ms: int) -> Any:
    """Run ``command(pipeline)`` (a write to ``key``) and return its reply
    once ``replicas`` replicas acknowledged it; ``StoreError`` otherwise."""
    if not cluster:
        try:
            return _acknowledged(client, command, replicas, timeout_ms)
        except _Redirected as e:
            raise StoreError(f"redis store: {e.kind} {e.host}:{e.port} from a server that is not a cluster") from e
    try:
        node, asking = client.get_node_from_key(key), False
        for _ in range(REDIRECTIONS + 1):
            try:
                return _acknowledged(client.get_redis_connection(node), command, replicas, timeout_ms, asking)
            except _Redirected as e:
                if e.kind == "MOVED":
                    client.nodes_manager.initialize()
                    node, asking = client.get_node_from_key(key), False
                else:
                    node, asking = client.get_node(host=e.host, port=e.port), True
                    if node is None:  # a node this client never heard of: learn the cluster anew
                        client.nodes_manager.initialize()
                        node = client.get_node(host=e.host, port=e.port) or client.get_node_from_key(key)
            except StoreError as e:
                if isinstance(e.__cause__, (redis.ConnectionError, redis.TimeoutError, OSError)):
                    _refresh(client)
                raise
    except STORE_ERRORS as e:
        raise StoreError(f"redis store: {e}") from e
    raise StoreError(f"redis store: the slot of {key!r} kept moving")


def _refresh(client: Any) -> None:
    """Learn the slot map again after a node failed (a failover may have
    given its slots to another); a cluster that can't answer now is asked
    again by the next write."""
    try:
        client.nodes_manager.initialize()
    except STORE_ERRORS:
        pass
