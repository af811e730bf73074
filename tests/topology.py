"""Real Redis Cluster and Sentinel topologies on loopback, started and stopped
by the tests themselves (as ``tests/servers.py`` does for single servers).

``RedisCluster``: N masters (optionally one replica each), created with
``redis-cli --cluster create``; a node can be killed, frozen, restarted; a slot
can be migrated key batch by key batch with a hook that runs while the slot is
half moved (so MOVED / ASK / TRYAGAIN can be observed).

``RedisSentinelSetup``: one master, one replica and three Sentinels (quorum 2);
a process can be killed or frozen (SIGSTOP / SIGCONT) and a failover awaited.

Both register their ``stop()`` with ``atexit`` and ``stop()`` kills every
process they started, whatever state they are in (a SIGSTOPped process is
killed too), then removes the temp dir. The pytest fixtures at the bottom start
each topology once per session.
"""

from __future__ import annotations

import atexit
import errno
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from unittest import mock

import redis
from redis.cluster import ClusterNode
from redis.crc import key_slot

from tests.servers import free_port

MISSING = (
    "redis-server and redis-cli are needed for the Cluster/Sentinel topology tests: "
    "`make test` installs them (Debian package redis-server; or `brew install redis`)."
)
RESERVED = {6379, 16379, 26379}  # the machine's own Redis (and friends) is never touched
BUS_OFFSET = 10000  # a cluster node's bus port is its port + 10000


class ReservedPortGuard:
    """Keeps this process off the machine's own Redis: ``socket.getaddrinfo``
    (through which redis-py resolves every address it connects to) refuses
    ports 6379/16379/26379 with ECONNREFUSED — or, with ``redirect`` set,
    resolves them to that port (a decoy server) — and records each attempt.

    Needed because a client can reach 6379 without being told to: redis-py 6+
    ``SentinelManagedConnection`` objects connect to their constructor default
    ``localhost:6379`` when connected through ``send_command`` (the path
    RedisStore's check connections take), not through ``connect()``."""

    def __init__(self) -> None:
        self.attempts: list[tuple[str, int]] = []
        self.redirect: int | None = None
        self._real: Callable[..., Any] | None = None

    def install(self) -> ReservedPortGuard:
        if self._real is not None:
            return self
        real = self._real = socket.getaddrinfo

        def guarded(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
            try:
                number = int(port)
            except (TypeError, ValueError):
                number = None
            if number in RESERVED:
                self.attempts.append((str(host), number))
                if self.redirect is None:
                    raise ConnectionRefusedError(
                        errno.ECONNREFUSED, f"refused by the test guard: {host}:{number} is the machine's own Redis")
                port = self.redirect
            return real(host, port, *args, **kwargs)

        socket.getaddrinfo = guarded
        return self


GUARD = ReservedPortGuard()  # installed by the first launcher built (and kept for the process)


class TopologyError(RuntimeError):
    """A topology did not reach the state it was waited for."""


def binaries() -> tuple[str, str]:
    """Paths of redis-server and redis-cli, or ``RuntimeError(MISSING)``."""
    server, cli = shutil.which("redis-server"), shutil.which("redis-cli")
    if server is None or cli is None:
        raise RuntimeError(MISSING)
    return server, cli


def _bindable(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_ports(count: int, *, bus: bool = False) -> list[int]:
    """``count`` distinct free loopback ports (never 6379 & co.). With ``bus``,
    each port's cluster bus port (port + 10000) is free and below 65536 too."""
    ports: list[int] = []
    for _ in range(count * 200):
        if len(ports) == count:
            return ports
        port = free_port()
        if port in RESERVED or port in ports:
            continue
        if bus and (port + BUS_OFFSET > 65535 or port + BUS_OFFSET in RESERVED
                    or port + BUS_OFFSET in ports or not _bindable(port + BUS_OFFSET)):
            continue
        ports.append(port)
    if len(ports) == count:
        return ports
    raise TopologyError(f"could not find {count} free loopback ports")


def wait_until(predicate: Callable[[], Any], timeout: float, what: str, interval: float = 0.02) -> Any:
    """Poll ``predicate`` until it returns a truthy value (returned); a Redis
    error or OSError while polling counts as "not yet"."""
    deadline = time.monotonic() + timeout
    last: BaseException | None = None
    while True:
        try:
            value = predicate()
            if value:
                return value
        except (redis.RedisError, OSError) as e:
            last = e
        if time.monotonic() > deadline:
            raise TopologyError(f"timed out after {timeout}s waiting for {what}" + (f" (last error: {last!r})" if last else ""))
        time.sleep(interval)


def _info(client: redis.Redis, section: str) -> dict[str, str]:
    """``INFO <section>`` as ``key: value`` strings; a nested value (``slave0``)
    back in its wire form ``ip=...,port=...,state=online,...``."""
    parsed = client.info(section)
    return {k: ",".join(f"{a}={b}" for a, b in v.items()) if isinstance(v, dict) else str(v)
            for k, v in parsed.items()}


class WireCommands:
    """Records what redis-py writes to sockets while the block runs (all
    redis-py 5.0+ connections, the cluster's and Sentinel's included):
    ``sent``, every command sent one by one (``send_command``) as (port, NAME);
    ``writes``, every socket write (``send_packed_command``: one per command
    sent one by one, one per pipelined batch) as its port."""

    def __init__(self) -> None:
        self.sent: list[tuple[int, str]] = []
        self.writes: list[int] = []

    def __enter__(self) -> WireCommands:
        import redis.connection

        cls = redis.connection.AbstractConnection
        real_send, real_packed = cls.send_command, cls.send_packed_command
        sent, writes = self.sent, self.writes

        def counting(connection: Any, *args: Any, **kwargs: Any) -> Any:
            try:  # the port once connected: a Sentinel-managed connection learns it while sending
                return real_send(connection, *args, **kwargs)
            finally:
                sent.append((getattr(connection, "port", 0), str(args[0]).upper()))

        def writing(connection: Any, *args: Any, **kwargs: Any) -> Any:
            try:
                return real_packed(connection, *args, **kwargs)
            finally:
                writes.append(getattr(connection, "port", 0))

        self._patches = [mock.patch.object(cls, "send_command", counting),
                         mock.patch.object(cls, "send_packed_command", writing)]
        for patch in self._patches:
            patch.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        for patch in reversed(self._patches):
            patch.stop()

    def names(self) -> list[str]:
        return [name for _, name in self.sent]


def replicas_online(info: dict[str, str], count: int) -> bool:
    """From a master's ``INFO replication`` (as ``_info`` gives it): at least
    ``count`` replicas in state ``online``. Not enough by itself: after a
    diskless sync Redis 7.0 withholds the command stream until the replica's
    first REPLCONF ACK (sent once a second), so for up to ~1 s acknowledged
    writes reach no replica — ``write_reaches`` proves the stream flows (and
    holds under a steady write load, where offsets never stand still)."""
    online = 0
    for i in range(int(info.get("connected_slaves", "0"))):
        fields = dict(f.split("=", 1) for f in info.get(f"slave{i}", "").split(",") if "=" in f)
        online += fields.get("state") == "online"
    return online >= count


PROBE = "toctou-topology-probe"


def write_reaches(client: redis.Redis, count: int, key: str = PROBE, timeout_ms: int = 100) -> bool:
    """A write on this master (``client``) reaches ``count`` replicas now: SET
    and WAIT in one pipeline (WAIT counts its own connection's writes)."""
    pipe = client.pipeline(transaction=False)
    pipe.set(key, b"1")
    pipe.execute_command("WAIT", count, timeout_ms)
    return int(pipe.execute()[1]) >= count


def key_in_slots(slots: Iterable[tuple[int, int]]) -> str:
    """A key whose hash slot is in one of ``slots`` (ranges)."""
    ranges = list(slots)
    for n in range(100000):
        key = f"{PROBE}-{n}"
        if any(lo <= key_slot(key.encode()) <= hi for lo, hi in ranges):
            return key
    raise TopologyError(f"no probe key found for slots {ranges}")


@dataclass
class RedisProcess:
    """One redis-server (or Sentinel) process on 127.0.0.1:<port>."""

    port: int
    args: list[str]
    log: str
    process: subprocess.Popen | None = None
    frozen: bool = False

    def start(self) -> RedisProcess:
        self.process = subprocess.Popen(self.args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.frozen = False
        return self

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def client(self, **kwargs: Any) -> redis.Redis:
        kwargs.setdefault("socket_timeout", 5)
        kwargs.setdefault("socket_connect_timeout", 5)
        return redis.Redis(host="127.0.0.1", port=self.port, **kwargs)

    def ping(self) -> bool:
        client = self.client(socket_timeout=0.5, socket_connect_timeout=0.5)
        try:
            return bool(client.ping())
        finally:
            client.close()

    def wait_ready(self, timeout: float = 10.0) -> None:
        def ready() -> bool:
            if not self.alive:
                raise TopologyError(f"redis on port {self.port} exited; see {self.log}")
            return self.ping()

        wait_until(ready, timeout, f"redis on port {self.port} to answer PING")

    def signal(self, signum: int) -> None:
        if self.alive:
            self.process.send_signal(signum)
            if signum == signal.SIGSTOP:
                self.frozen = True
            elif signum == signal.SIGCONT:
                self.frozen = False

    def kill(self) -> None:
        """SIGKILL (works on a SIGSTOPped process too) and reap."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                pass
        self.frozen = False


class _Topology:
    """What both launchers share: a temp dir, processes, kill-all stop()."""

    prefix = "toctou-topology-"

    def __init__(self) -> None:
        self.server_binary, self.cli_binary = binaries()
        GUARD.install()
        self.dir = tempfile.mkdtemp(prefix=self.prefix)
        self.processes: dict[int, RedisProcess] = {}
        self.startup_seconds: float | None = None
        self._stopped = False
        atexit.register(self.stop)

    def _server_args(self, port: int) -> list[str]:
        return [self.server_binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                "--dir", self.dir, "--enable-debug-command", "yes", "--logfile", self._log(port),
                # Redis 7 syncs replicas diskless after a 5 s delay (to batch replicas): none here
                "--repl-diskless-sync-delay", "0"]

    def _log(self, port: int) -> str:
        return os.path.join(self.dir, f"redis-{port}.log")

    def process(self, port: int) -> RedisProcess:
        return self.processes[port]

    def kill(self, port: int) -> None:
        """SIGKILL the process on ``port`` (no shutdown, no goodbye to peers)."""
        self.processes[port].kill()

    def freeze(self, port: int) -> None:
        """SIGSTOP: the process keeps its sockets but answers nothing."""
        self.processes[port].signal(signal.SIGSTOP)

    def thaw(self, port: int) -> None:
        self.processes[port].signal(signal.SIGCONT)

    def restart(self, port: int, timeout: float = 10.0) -> None:
        """Start the process on ``port`` again with the same arguments (same
        config file, so a cluster node rejoins with its node id)."""
        proc = self.processes[port]
        proc.kill()
        proc.start()
        proc.wait_ready(timeout)

    def stop(self) -> None:
        """Kill every process started, whatever happened; remove the temp dir.
        Safe to call twice, and after a failed start."""
        for proc in list(self.processes.values()):
            try:
                proc.kill()
            except Exception:  # noqa: BLE001 - stop() must go on with the others
                pass
        if not self._stopped:
            self._stopped = True
            shutil.rmtree(self.dir, ignore_errors=True)

    def log_tail(self, port: int, lines: int = 20) -> str:
        try:
            with open(self._log(port)) as f:
                return "".join(f.readlines()[-lines:])
        except OSError:
            return ""


# --- Redis Cluster -----------------------------------------------------------


@dataclass
class ClusterNodeInfo:
    """One line of ``CLUSTER NODES``."""

    id: str
    port: int
    flags: set[str]
    master_id: str | None
    connected: bool
    slots: list[tuple[int, int]] = field(default_factory=list)
    migrating: dict[int, str] = field(default_factory=dict)  # slot -> target node id
    importing: dict[int, str] = field(default_factory=dict)  # slot -> source node id

    @property
    def is_master(self) -> bool:
        return "master" in self.flags

    @property
    def failed(self) -> bool:
        return "fail" in self.flags or "fail?" in self.flags


def parse_cluster_nodes(text: str) -> list[ClusterNodeInfo]:
    nodes = []
    for line in text.strip().splitlines():
        parts = line.split()
        address = parts[1].split("@")[0]
        slots, migrating, importing = [], {}, {}
        for token in parts[8:]:
            if token.startswith("["):  # [slot->-target-id] or [slot-<-source-id]
                slot, arrow, peer = token[1:-1].partition("->-")
                if arrow:
                    migrating[int(slot)] = peer
                else:
                    slot, _, peer = token[1:-1].partition("-<-")
                    importing[int(slot)] = peer
                continue
            lo, _, hi = token.partition("-")
            slots.append((int(lo), int(hi or lo)))
        nodes.append(ClusterNodeInfo(
            id=parts[0], port=int(address.rsplit(":", 1)[1]) if ":" in address else 0,
            flags=set(parts[2].split(",")), master_id=None if parts[3] == "-" else parts[3],
            connected=parts[7] == "connected", slots=slots, migrating=migrating, importing=importing))
    return nodes


class RedisCluster(_Topology):
    """``masters`` cluster masters on loopback, optionally one replica each.

    ``node_timeout`` (ms) is small so that a killed master is flagged FAIL — and
    its replica promoted — within a few seconds.
    """

    prefix = "toctou-cluster-"

    def __init__(self, masters: int = 3, replicas: int = 0, node_timeout: int = 1000, extra: Iterable[str] = ()) -> None:
        super().__init__()
        if masters < 3:
            raise ValueError("redis-cli --cluster create needs at least 3 masters")
        self.masters_count, self.replicas_count = masters, replicas
        self.node_timeout = node_timeout
        self.extra = list(extra)
        self.ports: list[int] = []
        self.node_ids: dict[int, str] = {}
        self._killed_slot: dict[int, int] = {}

    def _node_args(self, port: int) -> list[str]:
        return [*self._server_args(port), "--cluster-enabled", "yes",
                "--cluster-config-file", os.path.join(self.dir, f"nodes-{port}.conf"),
                "--cluster-node-timeout", str(self.node_timeout), *self.extra]

    def start(self, timeout: float = 30.0) -> RedisCluster:
        began = time.monotonic()
        try:
            self.ports = free_ports(self.masters_count * (1 + self.replicas_count), bus=True)
            for port in self.ports:  # all started at once, then waited for
                self.processes[port] = RedisProcess(port, self._node_args(port), self._log(port)).start()
            for port in self.ports:
                self.processes[port].wait_ready()
            command = [self.cli_binary, "--cluster", "create", *(f"127.0.0.1:{p}" for p in self.ports),
                       "--cluster-replicas", str(self.replicas_count), "--cluster-yes"]
            done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
            if done.returncode != 0 or "[OK] All 16384 slots covered" not in done.stdout:
                raise TopologyError(f"redis-cli --cluster create failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
            for port in self.ports:
                with self.processes[port].client() as client:
                    self.node_ids[port] = client.execute_command("CLUSTER", "MYID").decode()
            self.wait_ok(timeout=timeout)
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - began
        return self

    # -- addresses and clients --

    @property
    def alive_ports(self) -> list[int]:
        return [p for p in self.ports if self.processes[p].alive and not self.processes[p].frozen]

    @property
    def url(self) -> str:
        """A ``redis://`` URL of one live node (a master at start)."""
        return f"redis://127.0.0.1:{self.alive_ports[0]}/0"

    @property
    def startup_nodes(self) -> list[ClusterNode]:
        return [ClusterNode("127.0.0.1", p) for p in self.alive_ports]

    def client(self, **kwargs: Any) -> redis.RedisCluster:
        """A redis-py ``RedisCluster`` knowing every live node."""
        kwargs.setdefault("socket_timeout", 5)
        kwargs.setdefault("socket_connect_timeout", 5)
        return redis.RedisCluster(startup_nodes=self.startup_nodes, **kwargs)

    def node_client(self, port: int, **kwargs: Any) -> redis.Redis:
        """A plain client of one node (no redirections followed)."""
        return self.processes[port].client(**kwargs)

    # -- state --

    def nodes(self, port: int | None = None) -> list[ClusterNodeInfo]:
        """``CLUSTER NODES`` as seen by ``port`` (default: a live node)."""
        with self.node_client(port or self.alive_ports[0]) as client:
            return parse_cluster_nodes(client.execute_command("CLUSTER", "NODES", NEVER_DECODE=True).decode())

    def masters(self) -> list[int]:
        """Ports of the masters serving slots, as a live node sees them."""
        return sorted(n.port for n in self.nodes() if n.is_master and n.slots and not n.failed)

    def replicas_of(self, master_port: int) -> list[int]:
        nodes = self.nodes()
        master_id = next(n.id for n in nodes if n.port == master_port)
        return [n.port for n in nodes if n.master_id == master_id]

    def slot_of(self, key: str | bytes) -> int:
        return key_slot(key.encode() if isinstance(key, str) else key)

    def slot_owners(self, port: int | None = None) -> list[int]:
        """The port of the master serving each of the 16384 slots (0: none),
        from one ``CLUSTER NODES`` (as ``port`` sees it)."""
        owners = [0] * 16384
        for node in self.nodes(port):
            if node.is_master and not node.failed:
                for lo, hi in node.slots:
                    owners[lo:hi + 1] = [node.port] * (hi + 1 - lo)
        return owners

    def node_of_slot(self, slot: int, port: int | None = None) -> int:
        """Port of the master serving ``slot`` (as ``port`` sees it)."""
        for node in self.nodes(port):
            if node.is_master and not node.failed and any(lo <= slot <= hi for lo, hi in node.slots):
                return node.port
        raise TopologyError(f"no live master serves slot {slot}")

    def node_of_key(self, key: str | bytes) -> int:
        """Port of the master serving ``key``'s slot."""
        return self.node_of_slot(self.slot_of(key))

    def cluster_info(self, port: int) -> dict[str, str]:
        with self.node_client(port, socket_timeout=1, socket_connect_timeout=1) as client:
            text = client.execute_command("CLUSTER", "INFO", NEVER_DECODE=True).decode()
        return dict(line.split(":", 1) for line in text.split() if ":" in line)

    def _ok(self, ports: list[int], replicas: bool) -> bool:
        if not all(self.cluster_info(p).get("cluster_state") == "ok" for p in ports):
            return False
        # every live node agrees on the node list (no handshake left)
        views = [self.nodes(p) for p in ports]
        if any(len(v) != len(views[0]) or any("handshake" in n.flags or "noaddr" in n.flags for n in v) for v in views):
            return False
        if replicas:  # ... and on who replicates whom
            for view in views:
                live = [n for n in view if not n.failed]
                for master in (n for n in live if n.is_master and n.slots):
                    if sum(n.master_id == master.id for n in live) < self.replicas_count:
                        return False
        if replicas:
            slots = {n.port: n.slots for n in views[0] if n.is_master and n.slots}
            for port in ports:
                with self.node_client(port) as client:
                    info = _info(client, "replication")
                    if info.get("role") == "slave" and info.get("master_link_status") != "up":
                        return False
                    if info.get("role") == "master" and port in slots and not (
                            replicas_online(info, self.replicas_count)
                            and write_reaches(client, self.replicas_count, key_in_slots(slots[port]))):
                        return False
        return True

    def config_set(self, name: str, value: Any) -> None:
        """CONFIG SET on every live node."""
        for port in self.alive_ports:
            with self.node_client(port) as client:
                client.config_set(name, value)

    def flagged_failed(self, port: int) -> bool:
        """Every other live node flags ``port`` FAIL (the cluster's verdict,
        not one node's PFAIL)."""
        others = [p for p in self.alive_ports if p != port]
        return all(any(n.port == port and "fail" in n.flags for n in self.nodes(p)) for p in others)

    def flush(self) -> None:
        """FLUSHALL on every master (their replicas follow): a clean slate for
        the next test, without restarting anything."""
        for port in self.masters():
            with self.node_client(port) as client:
                client.flushall()

    def wait_ok(self, timeout: float = 30.0, replicas: bool | None = None) -> None:
        """Until every live node says ``cluster_state:ok`` (and, with
        ``replicas``, each master's replicas are connected, online, and a
        write on it reaches them: ``write_reaches``)."""
        want_replicas = bool(self.replicas_count) if replicas is None else replicas
        wait_until(lambda: self._ok(self.alive_ports, want_replicas), timeout,
                   "cluster_state:ok on every node" + (" with replicas in sync" if want_replicas else ""), 0.05)

    def wait_state(self, state: str, ports: Iterable[int] | None = None, timeout: float = 20.0) -> float:
        """Until every node of ``ports`` (default: live ones) reports
        ``cluster_state:<state>``; returns the seconds waited."""
        began = time.monotonic()
        targets = list(ports) if ports is not None else self.alive_ports
        wait_until(lambda: all(self.cluster_info(p).get("cluster_state") == state for p in targets), timeout,
                   f"cluster_state:{state}", 0.05)
        return time.monotonic() - began

    def wait_failover(self, old_master: int, timeout: float = 30.0) -> tuple[int, float]:
        """After ``old_master`` died: until a replica serves its slots and every
        live node says ok. Returns (new master port, seconds waited)."""
        began = time.monotonic()
        slot = self._killed_slot.get(old_master)
        if slot is None:
            slot = self._first_slot_of(old_master)

        def promoted() -> int | None:
            port = self.node_of_slot(slot)
            if port == old_master:
                return None
            self.wait_state("ok", timeout=0.01)  # raises TopologyError if not yet
            return port

        def attempt() -> int | None:
            try:
                return promoted()
            except TopologyError:
                return None

        new = wait_until(attempt, timeout, f"a replica of {old_master} to take over its slots", 0.05)
        return new, time.monotonic() - began

    def _first_slot_of(self, port: int) -> int:
        for node in self.nodes():
            if node.port == port and node.slots:
                return node.slots[0][0]
        raise TopologyError(f"node {port} serves no slot")

    # -- faults --

    def kill(self, port: int) -> None:
        """SIGKILL the node on ``port``; a slot it served is remembered for
        ``wait_failover``."""
        try:
            self._killed_slot[port] = self._first_slot_of(port)
        except (TopologyError, redis.RedisError, OSError, IndexError):
            pass
        super().kill(port)

    def kill_master_of(self, key: str | bytes) -> int:
        """SIGKILL the master serving ``key``; returns its port."""
        port = self.node_of_key(key)
        self.kill(port)
        return port

    # -- resharding --

    def migrate_slot(self, slot: int, source: int, target: int, *, batch: int = 100, timeout_ms: int = 5000,
                     during: Callable[[list[bytes]], Any] | None = None) -> int:
        """Move ``slot`` from master ``source`` to master ``target`` the way
        ``redis-cli --cluster reshard`` does: IMPORTING on the target, MIGRATING
        on the source, MIGRATE keys in batches, then SETSLOT NODE on the target,
        the source and every other master. ``during(migrated)`` is called with
        the keys moved so far: once before any key moves and after every batch,
        while the slot is still half moved (MOVED / ASK / TRYAGAIN observable).
        Returns the number of keys moved."""
        source_id, target_id = self.node_ids[source], self.node_ids[target]
        src, dst = self.node_client(source), self.node_client(target)
        moved: list[bytes] = []
        try:
            dst.execute_command("CLUSTER", "SETSLOT", slot, "IMPORTING", source_id)
            src.execute_command("CLUSTER", "SETSLOT", slot, "MIGRATING", target_id)
            if during is not None:
                during(list(moved))
            while True:
                keys = src.execute_command("CLUSTER", "GETKEYSINSLOT", slot, batch)
                if not keys:
                    break
                src.execute_command("MIGRATE", "127.0.0.1", target, "", 0, timeout_ms, "KEYS", *keys)
                moved.extend(keys)
                if during is not None:
                    during(list(moved))
            masters = [target, source] + [p for p in self.masters() if p not in (source, target)]
            for port in masters:
                with self.node_client(port) as client:
                    client.execute_command("CLUSTER", "SETSLOT", slot, "NODE", target_id)
        finally:
            src.close()
            dst.close()
        return len(moved)

    def settle_slot(self, slot: int, owner: int) -> None:
        """Leave ``slot`` stable and served by ``owner``, whatever a test left
        behind: a migration cut short is finished first, then moved back."""
        for node in self.nodes():
            if slot in node.migrating:
                target = next(p for p, i in self.node_ids.items() if i == node.migrating[slot])
                self.migrate_slot(slot, node.port, target)
        current = self.node_of_slot(slot)
        if current != owner:
            self.migrate_slot(slot, current, owner)


# --- Sentinel ----------------------------------------------------------------


class RedisSentinelSetup(_Topology):
    """One master, ``replicas`` replicas (``--replicaof``) and ``sentinels``
    Sentinels monitoring them as ``service_name`` with ``quorum``."""

    prefix = "toctou-sentinel-"

    def __init__(self, service_name: str = "toctou", replicas: int = 1, sentinels: int = 3, quorum: int = 2,
                 down_after_ms: int = 1000, failover_timeout_ms: int = 3000) -> None:
        super().__init__()
        self.service_name = service_name
        self.replicas_count, self.sentinels_count, self.quorum = replicas, sentinels, quorum
        self.down_after_ms, self.failover_timeout_ms = down_after_ms, failover_timeout_ms
        self.master_port = 0
        self.replica_ports: list[int] = []
        self.sentinel_ports: list[int] = []
        self.sentinel_ids: dict[int, str] = {}

    def _sentinel_conf(self, port: int) -> str:
        """Each Sentinel gets a writable config of its own: it rewrites it.
        Its id is chosen here and its peers are listed (``known-sentinel``),
        so the Sentinels need not wait for each other's hello messages
        (published every 2 s) before a quorum can be reached."""
        path = os.path.join(self.dir, f"sentinel-{port}.conf")
        name = self.service_name
        lines = [f"port {port}", "bind 127.0.0.1", f"dir {self.dir}", f"logfile {self._log(port)}",
                 f"sentinel myid {self.sentinel_ids[port]}",
                 f"sentinel monitor {name} 127.0.0.1 {self.master_port} {self.quorum}",
                 f"sentinel down-after-milliseconds {name} {self.down_after_ms}",
                 f"sentinel failover-timeout {name} {self.failover_timeout_ms}",
                 f"sentinel parallel-syncs {name} 1"]
        lines += [f"sentinel known-replica {name} 127.0.0.1 {p}" for p in self.replica_ports]
        lines += [f"sentinel known-sentinel {name} 127.0.0.1 {p} {self.sentinel_ids[p]}"
                  for p in self.sentinel_ports if p != port]
        with open(path, "w") as f:
            f.write("\n".join(lines) + "\n")
        return path

    def start(self, timeout: float = 30.0) -> RedisSentinelSetup:
        began = time.monotonic()
        try:
            ports = free_ports(1 + self.replicas_count + self.sentinels_count)
            self.master_port = ports[0]
            self.replica_ports = ports[1:1 + self.replicas_count]
            self.sentinel_ports = ports[1 + self.replicas_count:]
            self.sentinel_ids = {p: os.urandom(20).hex() for p in self.sentinel_ports}
            self.processes[self.master_port] = RedisProcess(
                self.master_port, self._server_args(self.master_port), self._log(self.master_port)).start()
            for port in self.replica_ports:
                args = [*self._server_args(port), "--replicaof", "127.0.0.1", str(self.master_port)]
                self.processes[port] = RedisProcess(port, args, self._log(port)).start()
            for port in [self.master_port, *self.replica_ports]:
                self.processes[port].wait_ready()
            self.wait_replicas(self.master_port, timeout)
            for port in self.sentinel_ports:
                args = [self.server_binary, self._sentinel_conf(port), "--sentinel"]
                self.processes[port] = RedisProcess(port, args, self._log(port)).start()
            for port in self.sentinel_ports:
                self.processes[port].wait_ready()
            self.wait_sentinels(timeout)
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - began
        return self

    @property
    def sentinel_addresses(self) -> list[tuple[str, int]]:
        return [("127.0.0.1", p) for p in self.sentinel_ports]

    @property
    def data_ports(self) -> list[int]:
        return [self.master_port, *self.replica_ports]

    def sentinel(self, **kwargs: Any) -> redis.Sentinel:
        kwargs.setdefault("socket_timeout", 1)
        kwargs.setdefault("socket_connect_timeout", 1)
        return redis.Sentinel(self.sentinel_addresses, **kwargs)

    def master_client(self, **kwargs: Any) -> redis.Redis:
        """A redis-py client of the current master, found through Sentinel
        (``Sentinel(...).master_for(service_name)``): it follows failovers."""
        kwargs.setdefault("socket_timeout", 1)
        kwargs.setdefault("socket_connect_timeout", 1)
        return self.sentinel(**kwargs).master_for(self.service_name, **kwargs)

    def replication(self, port: int) -> dict[str, str]:
        with self.processes[port].client(socket_timeout=1, socket_connect_timeout=1) as client:
            return _info(client, "replication")

    def wait_replicas(self, master_port: int, timeout: float = 20.0) -> None:
        """Until ``master_port`` is master with every other live data node
        connected, online, and a write on it reaching them all (``write_reaches``)."""
        others = [p for p in self.data_ports if p != master_port and self.processes[p].alive]

        def synced() -> bool:
            if self.replication(master_port).get("role") != "master":
                return False
            for port in others:
                info = self.replication(port)
                if info.get("master_port") != str(master_port) or info.get("master_link_status") != "up":
                    return False
            if not replicas_online(self.replication(master_port), len(others)):
                return False
            with self.processes[master_port].client(socket_timeout=1, socket_connect_timeout=1) as client:
                return write_reaches(client, len(others))

        wait_until(synced, timeout, f"replicas of {master_port} in sync", 0.05)

    def sentinel_view(self, port: int) -> dict[str, str]:
        """``SENTINEL MASTER <name>`` of the Sentinel on ``port``, raw strings."""
        with self.processes[port].client(socket_timeout=1, socket_connect_timeout=1) as client:
            flat = client.execute_command("SENTINEL", "MASTER", self.service_name, NEVER_DECODE=True)
        def text(x: Any) -> str:
            return x.decode() if isinstance(x, bytes) else str(x)

        if isinstance(flat, dict):  # redis-py 8 (or RESP3): already pairs
            return {text(k): text(v) for k, v in flat.items()}
        items = [text(x) for x in flat]
        return dict(zip(items[::2], items[1::2], strict=False))

    def sentinel_replicas(self, port: int) -> dict[int, str]:
        """``SENTINEL REPLICAS <name>`` of the Sentinel on ``port``: {replica port: flags}."""
        with self.processes[port].client(socket_timeout=1, socket_connect_timeout=1) as client:
            replies = client.execute_command("SENTINEL", "REPLICAS", self.service_name, NEVER_DECODE=True)
        found = {}
        for reply in replies:
            if isinstance(reply, dict):
                pairs = {(k.decode() if isinstance(k, bytes) else k): v for k, v in reply.items()}
            else:
                pairs = dict(zip([x.decode() for x in reply[::2]], reply[1::2], strict=False))
            flags = pairs["flags"]
            found[int(pairs["port"])] = flags.decode() if isinstance(flags, bytes) else ",".join(flags)
        return found

    def wait_sentinels(self, timeout: float = 30.0) -> None:
        """Until every live Sentinel knows the master, every live replica (and
        sees it up) and the other Sentinels (needed for a quorum, hence a
        failover)."""
        live = [p for p in self.sentinel_ports if self.processes[p].alive]

        def known() -> bool:
            self.follow()  # Sentinel may have failed over on its own meanwhile (a loaded machine)
            replicas = [p for p in self.replica_ports if self.processes[p].alive]
            for port in live:
                view = self.sentinel_view(port)
                if view.get("port") != str(self.master_port) or "s_down" in view.get("flags", ""):
                    return False
                if int(view.get("num-other-sentinels", "0")) < len(live) - 1:
                    return False
                seen = self.sentinel_replicas(port)
                if any(p not in seen or "s_down" in seen[p] or "disconnected" in seen[p] for p in replicas):
                    return False
            return True

        wait_until(known, timeout, "every Sentinel to know the master, the replicas and its peers", 0.05)

    def master_address(self, sentinel_port: int | None = None) -> tuple[str, int]:
        """The master's address as one Sentinel reports it."""
        port = sentinel_port or next(p for p in self.sentinel_ports if self.processes[p].alive)
        with self.processes[port].client(socket_timeout=1, socket_connect_timeout=1) as client:
            host, master = client.execute_command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", self.service_name)
        return (host.decode() if isinstance(host, bytes) else host), int(master)

    def revive(self, port: int, timeout: float = 30.0) -> None:
        """Start a killed data node again as a replica of the current master
        (as an operator would; Sentinel itself waits 8 s before reconfiguring
        a returning old master), then wait until it is in sync and every
        Sentinel sees it."""
        proc = self.processes[port]
        proc.kill()
        proc.args = [*self._server_args(port), "--replicaof", "127.0.0.1", str(self.master_port)]
        proc.start()
        proc.wait_ready()
        if port not in self.replica_ports:
            self.replica_ports.append(port)
        self.wait_streaming(timeout)
        self.wait_sentinels(timeout)

    def wait_streaming(self, timeout: float = 30.0) -> None:
        """``wait_replicas`` of the master Sentinel names, asked again every
        few seconds: on a loaded machine it can fail over on its own while
        this waits (a master busy with a resync misses down-after-milliseconds),
        and the replicas of the old master then never come "in sync"."""
        deadline = time.monotonic() + timeout
        while True:
            self.follow()
            try:
                self.wait_replicas(self.master_port, min(5.0, max(deadline - time.monotonic(), 0.1)))
                return
            except TopologyError:
                if time.monotonic() >= deadline:
                    raise

    def flush(self) -> None:
        """FLUSHALL on the master (the replica follows): a clean slate for the
        next test."""
        self.follow()
        with self.processes[self.master_port].client() as client:
            client.flushall()

    def follow(self) -> None:
        """Take Sentinel's word for where the master is: on a loaded machine
        it may have failed over on its own (a master silent for
        down-after-milliseconds) since the launcher last looked."""
        _, port = self.master_address()
        if port != self.master_port and port in self.data_ports:
            old, self.master_port = self.master_port, port
            self.replica_ports = [p for p in [*self.replica_ports, old] if p != port]

    def kill_master(self) -> int:
        """SIGKILL the current master; returns its port."""
        port = self.master_port
        self.kill(port)
        return port

    def wait_failover(self, old_master: int | None = None, timeout: float = 30.0) -> tuple[int, float]:
        """Until every live Sentinel reports a master other than ``old_master``
        (default: the current one) and that node says ``role:master``.
        Returns (new master port, seconds waited); ``master_port`` follows."""
        old = old_master or self.master_port
        began = time.monotonic()
        live = [p for p in self.sentinel_ports if self.processes[p].alive]

        def promoted() -> int | None:
            addresses = {self.master_address(p) for p in live}
            if len(addresses) != 1:
                return None
            (_, port), = addresses
            if port == old or self.replication(port).get("role") != "master":
                return None
            return port

        new = wait_until(promoted, timeout, f"Sentinel to promote a replica of {old}", 0.05)
        self.master_port = new
        self.replica_ports = [p for p in self.data_ports if p != new] if old in self.replica_ports else \
            [p for p in [*self.replica_ports, old] if p != new]
        return new, time.monotonic() - began


# --- pytest fixtures -----------------------------------------------------------
# Imported into a test module (``from tests.topology import redis_cluster``) or a
# conftest, they start each topology once per session and always stop it.

try:
    import pytest
except ImportError:  # a script without pytest can still use the launchers
    pytest = None  # type: ignore[assignment]

if pytest is not None:

    def _require_binaries() -> None:
        try:
            binaries()
        except RuntimeError as e:
            pytest.skip(str(e))

    @pytest.fixture(scope="session")
    def redis_cluster():
        """3 masters, 1 replica each: failover needs the replicas. A test that
        kills or reshards must leave it as ``cluster_state:ok`` (or restart)."""
        _require_binaries()
        cluster = RedisCluster(masters=3, replicas=1)
        try:
            cluster.start()
            yield cluster
        finally:
            cluster.stop()

    @pytest.fixture(scope="session")
    def redis_sentinel():
        """1 master, 1 replica, 3 Sentinels (quorum 2)."""
        _require_binaries()
        setup = RedisSentinelSetup()
        try:
            setup.start()
            yield setup
        finally:
            setup.stop()
