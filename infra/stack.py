"""Local services with no Docker: Apache Kafka (KRaft, jars from Maven Central) and Redis.

Used by ``make run`` (``infra.run``) and by the test session, which starts its own pair on
free ports. Each service runs in its own process group so that stopping it leaves nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.client import AIOKafkaClient, CoordinationType
from aiokafka.errors import KafkaError

from state.probe import store_answers

REPO_ROOT = Path(__file__).resolve().parent.parent
KAFKA_POM = REPO_ROOT / "deploy" / "kafka" / "pom.xml"
KAFKA_LOG4J = REPO_ROOT / "deploy" / "kafka" / "log4j2.properties"
KAFKA_MAIN = "kafka.Kafka"
STORAGE_TOOL = "kafka.tools.StorageTool"


class StackError(RuntimeError):
    """A local service could not be prepared or started."""


@dataclass
class Service:
    name: str
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def stop(self, timeout: float = 20.0) -> None:
        stop_process_group(self.process.pid, timeout, alive=lambda: self.process.poll() is None)
        self.process.wait()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((host, port)) == 0


def group_alive(pid: int) -> bool:
    try:
        os.killpg(pid, 0)
    except ProcessLookupError:
        return False
    return True


def stop_process(pid: int, timeout: float = 30.0) -> None:
    """SIGTERM one process (not a group leader) and wait for it to go, SIGKILL after ``timeout``."""

    def alive() -> bool:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True

    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while alive() and time.monotonic() < deadline:
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def stop_process_group(pid: int, timeout: float = 20.0, alive: Callable[[], bool] | None = None) -> None:
    """SIGTERM the group led by ``pid``, then SIGKILL whatever is left after ``timeout``.

    ``alive`` tells when the leader is gone; for our own children it must reap them, since
    a zombie still counts as a member of its group.
    """
    still_running = alive or (lambda: group_alive(pid))
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not still_running():
            return
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)


def require(binary: str, install_hint: str) -> str:
    path = shutil.which(binary)
    if path is None:
        raise StackError(f"'{binary}' is not installed: {install_hint}")
    return path


def tail(path: Path, lines: int = 30) -> str:
    if not path.exists():
        return "(no log)"
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def kafka_classpath(cache_dir: Path) -> str:
    """Resolve the broker's jars with Maven once; later calls reuse the folder."""
    libs = cache_dir / "kafka-libs"
    marker = libs / ".resolved"
    if not marker.exists() or marker.read_text() != KAFKA_POM.read_text():
        mvn = require("mvn", "install Maven (Debian: apt-get install -y maven)")
        shutil.rmtree(libs, ignore_errors=True)
        result = subprocess.run(
            [mvn, "-q", "-B", "-f", str(KAFKA_POM), "dependency:copy-dependencies", f"-DoutputDirectory={libs}"],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise StackError(f"mvn could not resolve Kafka's jars:\n{result.stdout[-3000:]}{result.stderr[-3000:]}")
        marker.write_text(KAFKA_POM.read_text())
    return f"{libs}/*"


# The log cleaner allocates its dedupe map in one piece at startup. Kafka's default (128 MiB) is half
# of the test cluster's 256 MiB heap, and G1 can fail to find that much contiguous space: the node
# then dies with OutOfMemoryError before it serves. Compacted topics here are small (offsets,
# transactions), so 16 MiB (about 670,000 distinct keys per cleaning pass) is ample.
CLEANER_DEDUPE_BYTES = 16 * 1024 * 1024


def kafka_properties(
    data_dir: Path,
    port: int,
    controller_port: int,
    partitions: int,
    *,
    node_id: int = 1,
    voters: str | None = None,
    replication: int = 1,
) -> str:
    """One KRaft node (broker and controller). ``voters``: the quorum, ``id@host:port`` joined by commas
    (this node alone when None); ``replication``: of the internal topics, whose min ISR is then 2."""
    min_isr = 2 if replication > 1 else 1
    return "\n".join(
        [
            "process.roles=broker,controller",
            f"node.id={node_id}",
            f"controller.quorum.voters={voters or f'{node_id}@127.0.0.1:{controller_port}'}",
            f"listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}",
            f"advertised.listeners=PLAINTEXT://127.0.0.1:{port}",
            "controller.listener.names=CONTROLLER",
            "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "inter.broker.listener.name=PLAINTEXT",
            f"log.dirs={data_dir}",
            f"num.partitions={partitions}",
            f"default.replication.factor={replication}",
            f"offsets.topic.replication.factor={replication}",
            "offsets.topic.num.partitions=6",
            f"transaction.state.log.replication.factor={replication}",
            f"transaction.state.log.min.isr={min_isr}",
            "transaction.state.log.num.partitions=6",
            "unclean.leader.election.enable=false",
            "group.initial.rebalance.delay.ms=0",
            "log.retention.hours=168",
            f"log.cleaner.dedupe.buffer.size={CLEANER_DEDUPE_BYTES}",
            "",
        ]
    )


def kafka_command(
    state_dir: Path,
    port: int,
    *,
    partitions: int = 6,
    cache_dir: Path | None = None,
    heap: str = "512m",
) -> list[str]:
    """Resolve the jars, write the broker's config, format its storage (first time only), and
    return the command line that runs the broker in the foreground (``make run`` hands it to
    the supervisor, the tests start it themselves)."""
    classpath = kafka_classpath(cache_dir or state_dir)
    home = state_dir / "kafka"
    if port_open(port):
        raise StackError(f"port {port} is taken: stop what listens there or set VALUESTREAM_KAFKA_PORT")
    config = home / "server.properties"
    home.mkdir(parents=True, exist_ok=True)
    config.write_text(kafka_properties(home / "data", port, free_port(), partitions))
    format_storage(classpath, config, home / "data")
    return java_kafka_command(classpath, config, home / "logs", heap)


def java_binary() -> str:
    return require("java", "install Java 17 (Debian: apt-get install -y openjdk-17-jre-headless)")


def new_cluster_id(classpath: str) -> str:
    result = subprocess.run(
        [java_binary(), "-cp", classpath, STORAGE_TOOL, "random-uuid"], capture_output=True, text=True, check=True
    )
    return result.stdout.strip().splitlines()[-1]


def format_storage(classpath: str, config: Path, data_dir: Path, cluster_id: str | None = None) -> None:
    """Format a node's storage once (a formatted folder is kept); every node of a cluster shares its id."""
    if (data_dir / "meta.properties").exists():
        return
    formatted = subprocess.run(
        [
            java_binary(),
            "-cp",
            classpath,
            STORAGE_TOOL,
            "format",
            "-t",
            cluster_id or new_cluster_id(classpath),
            "-c",
            str(config),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if formatted.returncode != 0:
        raise StackError(f"formatting Kafka storage failed:\n{formatted.stdout}{formatted.stderr}")


def java_kafka_command(classpath: str, config: Path, logs: Path, heap: str) -> list[str]:
    """The command line of one Kafka node in the foreground, its logs in ``logs``."""
    logs.mkdir(parents=True, exist_ok=True)
    return [
        java_binary(),
        f"-Xmx{heap}",
        f"-Xms{heap}",
        "-XX:+UseG1GC",
        f"-Dkafka.logs.dir={logs}",
        f"-Dlog4j2.configurationFile={KAFKA_LOG4J}",
        "-cp",
        classpath,
        KAFKA_MAIN,
        str(config),
    ]


def kafka_server_log(state_dir: Path) -> Path:
    return state_dir / "kafka" / "logs" / "server.log"


def start_kafka(
    state_dir: Path,
    port: int,
    *,
    partitions: int = 6,
    cache_dir: Path | None = None,
    heap: str = "512m",
    timeout: float = 90.0,
) -> Service:
    """Format (first time only) and start a single-node KRaft broker; return once it answers."""
    command = kafka_command(state_dir, port, partitions=partitions, cache_dir=cache_dir, heap=heap)
    log = state_dir / "kafka" / "logs" / "stdout.log"
    process = subprocess.Popen(command, stdout=log.open("ab"), stderr=subprocess.STDOUT, start_new_session=True)
    service = Service("kafka", port, process, log)
    wait_service(service, lambda: asyncio.run(kafka_ready(service.address)), timeout, kafka_server_log(state_dir))
    return service


def redis_command(state_dir: Path, port: int) -> list[str]:
    """The command line that runs the OS ``redis-server`` on ``port`` in the foreground, AOF on,
    its files in ``state_dir/redis``."""
    binary = require("redis-server", "install Redis (Debian: apt-get install -y redis-server)")
    home = state_dir / "redis"
    home.mkdir(parents=True, exist_ok=True)
    if port_open(port):
        raise StackError(f"port {port} is taken: stop what listens there or set VALUESTREAM_REDIS_PORT")
    return [
        binary,
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--dir",
        str(home),
        "--appendonly",
        "yes",
        "--save",
        "",
        "--daemonize",
        "no",
        "--logfile",
        str(redis_log(state_dir)),
    ]


def redis_log(state_dir: Path) -> Path:
    return state_dir / "redis" / "redis.log"


def start_redis(state_dir: Path, port: int, timeout: float = 30.0) -> Service:
    """Start the OS ``redis-server`` on ``port`` with its files in ``state_dir/redis``."""
    command = redis_command(state_dir, port)
    log = redis_log(state_dir)
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, start_new_session=True)
    service = Service("redis", port, process, log)
    wait_service(service, lambda: redis_ready(port), timeout, log)
    return service


def wait_service(service: Service, probe: Callable[[], bool], timeout: float, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if service.process.poll() is not None:
            raise StackError(
                f"{service.name} exited with {service.process.returncode}:\n{tail(log)}\n{tail(service.log)}"
            )
        if probe():
            return
        time.sleep(0.25)
    service.stop()
    raise StackError(f"{service.name} did not answer within {timeout:.0f} s:\n{tail(log)}")


def redis_ready(port: int) -> bool:
    return store_answers(f"redis://127.0.0.1:{port}/0")


@contextlib.contextmanager
def quiet_aiokafka() -> Iterator[None]:
    """Hold back aiokafka's own error logs while a probe asks a broker that may still be starting."""
    logger = logging.getLogger("aiokafka")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)


async def kafka_ready(bootstrap: str) -> bool:
    """True once the broker answers a metadata request.

    Asked only once the port accepts connections, and with aiokafka's own logging held back, so
    that a broker still starting is not reported as an error: it is what is being waited for.
    """
    host, _, port = bootstrap.split(",")[0].rpartition(":")
    if not port_open(int(port), host or "127.0.0.1"):
        return False
    with quiet_aiokafka():
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap.split(","), request_timeout_ms=2000)
        try:
            await admin.start()
            await admin.list_topics()
            return True
        except (KafkaError, OSError):
            return False
        finally:
            await admin.close()


async def group_coordinator_ready(bootstrap: str, group: str) -> bool:
    """True once the broker names a coordinator for ``group``. On a new broker the first ask
    creates the offsets topic; until it exists a consumer joining the group logs an error."""
    with quiet_aiokafka():
        client = AIOKafkaClient(bootstrap_servers=bootstrap.split(","), request_timeout_ms=2000)
        try:
            await client.bootstrap()
            await client.coordinator_lookup(CoordinationType.GROUP, group)
            return True
        except (KafkaError, OSError):
            return False
        finally:
            await client.close()


def new_cluster_name() -> str:
    return uuid.uuid4().hex[:8]
