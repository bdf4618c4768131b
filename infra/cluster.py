"""A local Kafka cluster of several KRaft nodes (each broker and controller) from the same jars as ``stack``.

Used by the three-broker test tier, its benchmark and ``make run`` with ``KAFKA_BROKERS=3``. Every
node has its own folder, ports and process group, so one can be SIGKILLed and started again on
the same ports and data (``kill`` / ``restart``) while the other two keep the quorum and serve.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from aiokafka.admin import AIOKafkaAdminClient

from infra import stack


@dataclass
class KafkaNode:
    node_id: int
    port: int
    controller_port: int
    home: Path
    command: list[str] = field(default_factory=list)
    service: stack.Service | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self.service is not None and self.service.process.poll() is None


def cluster_commands(
    state_dir: Path,
    ports: list[int],
    *,
    partitions: int = 6,
    cache_dir: Path | None = None,
    heap: str = "384m",
    controller_ports: list[int] | None = None,
) -> list[KafkaNode]:
    """Write every node's config, format the storage of those not yet formatted (one cluster id),
    and return the nodes with the command lines that run them (not started). Controllers listen on
    ``controller_ports`` (free ports when None)."""
    classpath = stack.kafka_classpath(cache_dir or state_dir)
    for port in ports:
        if stack.port_open(port):
            raise stack.StackError(f"port {port} is taken: stop what listens there or choose other ports")
    controllers = controller_ports or [stack.free_port() for _ in ports]
    nodes = [
        KafkaNode(i, port, controller, state_dir / f"kafka-{i}")
        for i, (port, controller) in enumerate(zip(ports, controllers, strict=True), start=1)
    ]
    voters = ",".join(f"{n.node_id}@127.0.0.1:{n.controller_port}" for n in nodes)
    id_file = state_dir / "kafka-cluster-id"
    if not id_file.exists():
        state_dir.mkdir(parents=True, exist_ok=True)
        id_file.write_text(stack.new_cluster_id(classpath))
    cluster_id = id_file.read_text().strip()
    for node in nodes:
        node.home.mkdir(parents=True, exist_ok=True)
        config = node.home / "server.properties"
        properties = stack.kafka_properties(
            node.home / "data",
            node.port,
            node.controller_port,
            partitions,
            node_id=node.node_id,
            voters=voters,
            replication=len(nodes),
        )
        config.write_text(properties)
        stack.format_storage(classpath, config, node.home / "data", cluster_id)
        node.command = stack.java_kafka_command(classpath, config, node.home / "logs", heap)
    return nodes


class KafkaCluster:
    """Nodes started as child processes; ``bootstrap`` names them all."""

    def __init__(self, nodes: list[KafkaNode], timeout: float = 120.0) -> None:
        self.nodes = nodes
        self.timeout = timeout

    @property
    def bootstrap(self) -> str:
        return ",".join(n.address for n in self.nodes)

    def node(self, node_id: int) -> KafkaNode:
        return next(n for n in self.nodes if n.node_id == node_id)

    def start(self) -> KafkaCluster:
        """Start every node, then wait until each answers (the quorum forms as they come up)."""
        for node in self.nodes:
            self._launch(node)
        for node in self.nodes:
            self._wait(node)
        return self

    def kill(self, node_id: int) -> None:
        """SIGKILL one node: no controlled shutdown, its leaderships move only when the controller fences it."""
        node = self.node(node_id)
        if node.service is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(node.service.process.pid, signal.SIGKILL)
            node.service.process.wait()

    def restart(self, node_id: int) -> None:
        """Start a killed node again on its ports and data; returns once it answers."""
        node = self.node(node_id)
        self._launch(node)
        self._wait(node)

    def stop(self) -> None:
        for node in self.nodes:
            if node.service is not None:
                node.service.stop()

    def _launch(self, node: KafkaNode) -> None:
        log = node.home / "logs" / "stdout.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        process = subprocess.Popen(
            node.command, stdout=log.open("ab"), stderr=subprocess.STDOUT, start_new_session=True
        )
        node.service = stack.Service(f"kafka-{node.node_id}", node.port, process, log)

    def _wait(self, node: KafkaNode) -> None:
        assert node.service is not None
        server_log = node.home / "logs" / "server.log"
        stack.wait_service(node.service, lambda: asyncio.run(stack.kafka_ready(node.address)), self.timeout, server_log)


def start_cluster(
    state_dir: Path, brokers: int = 3, *, partitions: int = 6, cache_dir: Path | None = None, heap: str = "384m"
) -> KafkaCluster:
    """Format (first time only) and start ``brokers`` KRaft nodes on free ports; return once all answer."""
    ports = [stack.free_port() for _ in range(brokers)]
    nodes = cluster_commands(state_dir, ports, partitions=partitions, cache_dir=cache_dir, heap=heap)
    return KafkaCluster(nodes).start()


async def leaders(bootstrap: str, topics: list[str]) -> dict[tuple[str, int], int]:
    """The node leading each partition of ``topics`` (-1: none at the moment)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap.split(","), request_timeout_ms=10_000)
    await admin.start()
    try:
        described = await admin.describe_topics(topics)
    finally:
        await admin.close()
    return {(t["topic"], p["partition"]): p["leader"] for t in described for p in t["partitions"]}


async def busiest_leader(bootstrap: str, topics: list[str], attempts: int = 50) -> int:
    """The node leading the most partitions of ``topics`` (asks again while new topics have no leaders yet)."""
    for _ in range(attempts):
        counts = Counter(leader for leader in (await leaders(bootstrap, topics)).values() if leader >= 0)
        if counts:
            return counts.most_common(1)[0][0]
        await asyncio.sleep(0.2)
    raise stack.StackError(f"no partition of {topics} has a leader")
