"""What the durability and failover tests need of a replicated topology
(``tests/topology.py``), the same for Sentinel and Cluster: the store's
options, the master and replica holding a key, waiting for the replica,
failing the master over — and pausing replication deterministically.

Pausing replication: SIGSTOP on the replica is not enough by itself. The
master keeps writing the replication stream to the socket, and the kernel
holds ~4 MB of it (the frozen replica's receive buffer and the master's send
buffer, measured on loopback here); a replica thawed after its master died
still reads that and loses nothing. ``pause_replication`` therefore writes a
filler to the master until the stream the replica has not acknowledged
exceeds what the kernel holds for that connection (read from
``/proc/net/tcp``) by ``margin`` bytes: from then on every write waits in the
master's own memory, and dies with it.
"""

from __future__ import annotations

import time
from typing import Any

from tests.conftest import cluster_options, sentinel_options
from tests.topology import TopologyError

MB = 1 << 20


class Topology:
    def __init__(self, kind: str, launcher: Any) -> None:
        self.kind, self.launcher = kind, launcher

    def options(self, **extra: Any) -> dict:
        make = cluster_options if self.kind == "cluster" else sentinel_options
        return make(self.launcher, **extra)

    def master_of(self, key: bytes) -> int:
        return self.launcher.node_of_key(key) if self.kind == "cluster" else self.launcher.master_port

    def replica_of(self, key: bytes) -> int:
        if self.kind == "cluster":
            return self.launcher.replicas_of(self.master_of(key))[0]
        return self.launcher.replica_ports[0]

    def replica_has(self, key: bytes) -> bool:
        with self.launcher.process(self.replica_of(key)).client() as replica:
            if self.kind == "cluster":
                replica.execute_command("READONLY")
            return bool(replica.exists(key))

    def wait_streaming(self, timeout: float = 30.0) -> None:
        if self.kind == "cluster":
            self.launcher.wait_ok(timeout=timeout)
        else:
            self.launcher.wait_streaming(timeout)

    def masters(self) -> list[int]:
        return self.launcher.masters() if self.kind == "cluster" else [self.launcher.master_port]

    def settle(self) -> bool:
        """Make sure the launcher knows the current master (Sentinel may have
        failed over on its own: a loaded machine can miss its pings for
        down-after-milliseconds) and its replicas stream. True when the
        master had changed behind the launcher's back."""
        changed = False
        if self.kind == "sentinel":
            _, master = self.launcher.master_address()
            if master != self.launcher.master_port:
                changed, ports = True, self.launcher.data_ports
                self.launcher.master_port = master
                self.launcher.replica_ports = [p for p in ports if p != master]
        self.wait_streaming()
        return changed

    def fail_over(self, master: int) -> tuple[int, float]:
        """SIGKILL ``master`` (already done by the caller or not); wait until
        its replica serves in its place. Returns (new master, seconds)."""
        if self.launcher.process(master).alive:
            self.launcher.kill(master)
        return self.launcher.wait_failover(master, timeout=60)

    def bring_back(self, old_master: int) -> None:
        """Start a failed-over master again, as a replica of its successor,
        and wait until it streams (as a supervisor or an operator would)."""
        if self.kind == "cluster":
            self.launcher.restart(old_master)
        else:
            self.launcher.revive(old_master)
        self.wait_streaming(60)


def users_by_master(store: Any, topology: Topology, per_master: int, prefix: str = "u") -> dict[int, list[str]]:
    """``per_master`` user ids whose keys live on each master."""
    if topology.kind != "cluster":
        return {topology.launcher.master_port: [f"{prefix}{n}" for n in range(per_master)]}
    cluster = topology.launcher
    owners, found = cluster.slot_owners(), {port: [] for port in cluster.masters()}
    n = 0
    while any(len(users) < per_master for users in found.values()):
        user = f"{prefix}{n}"
        port = owners[cluster.slot_of(store.version_key(user))]
        if len(found[port]) < per_master:
            found[port].append(user)
        n += 1
    return found


def _kernel_queued(a: int, b: int) -> int:
    """Bytes the kernel holds on the TCP connection 127.0.0.1:a <-> 127.0.0.1:b
    (send and receive queues of both ends), from /proc/net/tcp."""
    total = 0
    with open("/proc/net/tcp") as table:
        next(table)
        for line in table:
            fields = line.split()
            local, remote = int(fields[1].rsplit(":", 1)[1], 16), int(fields[2].rsplit(":", 1)[1], 16)
            if (local, remote) in ((a, b), (b, a)):
                tx, rx = (int(x, 16) for x in fields[4].split(":"))
                total += tx + rx
    return total


def _unacknowledged(master: Any) -> int:
    info = master.info("replication")
    return int(info["master_repl_offset"]) - int(info["slave0"]["offset"])


def _replica_link_port(master: Any) -> int:
    listed = master.execute_command("CLIENT", "LIST", "TYPE", "replica")
    listed = listed.decode() if isinstance(listed, bytes) else str(listed)
    address = next(f for f in listed.split() if f.startswith("addr="))
    return int(address.rsplit(":", 1)[1])


def pause_replication(launcher: Any, master_port: int, replica_port: int, tag: str, margin: int = MB,
                      limit_mb: int = 48) -> tuple[float, int]:
    """Freeze ``replica_port`` and write a filler to its master (keys tagged
    ``{tag}``, which must hash to that master) until ``margin`` bytes of the
    stream wait in the master's own memory. Returns when the replica was
    frozen (``time.monotonic()``) and the filler's size in MB. The caller
    thaws the replica (``launcher.thaw``)."""
    with launcher.process(master_port).client(socket_timeout=5) as master:
        link = _replica_link_port(master)
        launcher.freeze(replica_port)
        frozen_at = time.monotonic()
        for megabytes in range(1, limit_mb + 1):
            master.set(f"filler:{{{tag}}}{megabytes}", b"x" * MB)
            try:
                if _unacknowledged(master) - _kernel_queued(master_port, link) >= margin:
                    return frozen_at, megabytes
            except OSError:  # no /proc/net/tcp: a filler far past any socket buffer
                if megabytes >= limit_mb // 2:
                    return frozen_at, megabytes
        raise TopologyError(f"replication to {replica_port} not paused after {limit_mb} MB of filler")
