"""Going around a store adapter, straight into SQLite or DynamoDB (moto), as someone with
access to the database (but not to the audit signing key) could. Keys are written with
the adapter's practice prefix (`<practice id>|<pk>`)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

from tpm.adapters.store.base import SEPARATOR, Item, Store
from tpm.adapters.store.dynamodb import DynamoStore
from tpm.adapters.store.sqlite import SqliteStore


class Tamperer:
    def snapshot(self, pk: str, sk: str) -> Any:
        raise NotImplementedError

    def restore(self, snapshot: Any) -> None:
        raise NotImplementedError

    def edit(self, pk: str, sk: str, change: Callable[[Item], None]) -> None:
        raise NotImplementedError

    def remove(self, pk: str, sk: str) -> None:
        raise NotImplementedError

    def keys(self, pk: str) -> list[str]:
        """Every sort key of a partition."""
        raise NotImplementedError

    def move(self, pk: str, sk: str, new_sk: str) -> None:
        """The row, byte for byte, under another sort key (and no longer under `sk`)."""
        raise NotImplementedError


class SqliteTamperer(Tamperer):
    def __init__(self, store: SqliteStore, practice_id: str) -> None:
        self.db = sqlite3.connect(store.path, isolation_level=None)
        self.practice_id = practice_id

    def _key(self, pk: str) -> str:
        return f"{self.practice_id}{SEPARATOR}{pk}"

    def snapshot(self, pk: str, sk: str) -> Any:
        return self.db.execute(
            "SELECT * FROM items WHERE pk = ? AND sk = ?", (self._key(pk), sk)
        ).fetchone()

    def restore(self, snapshot: Any) -> None:
        marks = ",".join("?" * len(snapshot))
        self.db.execute(f"INSERT OR REPLACE INTO items VALUES ({marks})", snapshot)  # noqa: S608

    def edit(self, pk: str, sk: str, change: Callable[[Item], None]) -> None:
        (data,) = self.db.execute(
            "SELECT data FROM items WHERE pk = ? AND sk = ?", (self._key(pk), sk)
        ).fetchone()
        item = json.loads(data)
        change(item)
        self.db.execute(
            "UPDATE items SET data = ? WHERE pk = ? AND sk = ?",
            (json.dumps(item), self._key(pk), sk),
        )

    def remove(self, pk: str, sk: str) -> None:
        self.db.execute("DELETE FROM items WHERE pk = ? AND sk = ?", (self._key(pk), sk))

    def move(self, pk: str, sk: str, new_sk: str) -> None:
        self.edit(pk, sk, lambda item: item.update(sk=new_sk))
        self.db.execute(
            "UPDATE items SET sk = ? WHERE pk = ? AND sk = ?", (new_sk, self._key(pk), sk)
        )

    def keys(self, pk: str) -> list[str]:
        rows = self.db.execute("SELECT sk FROM items WHERE pk = ? ORDER BY sk", (self._key(pk),))
        return [str(sk) for (sk,) in rows]


class DynamoTamperer(Tamperer):
    def __init__(self, store: DynamoStore, practice_id: str) -> None:
        self.client, self.table = store.client, store.table_name
        self.practice_id = practice_id
        self.ser, self.de = TypeSerializer(), TypeDeserializer()

    def _key(self, pk: str, sk: str) -> dict[str, Any]:
        return {"pk": {"S": f"{self.practice_id}{SEPARATOR}{pk}"}, "sk": {"S": sk}}

    def snapshot(self, pk: str, sk: str) -> Any:
        return self.client.get_item(TableName=self.table, Key=self._key(pk, sk))["Item"]

    def restore(self, snapshot: Any) -> None:
        self.client.put_item(TableName=self.table, Item=snapshot)

    def edit(self, pk: str, sk: str, change: Callable[[Item], None]) -> None:
        raw = self.snapshot(pk, sk)
        item = {k: self.de.deserialize(v) for k, v in raw.items()}
        change(item)
        self.restore({k: self.ser.serialize(v) for k, v in item.items()})

    def remove(self, pk: str, sk: str) -> None:
        self.client.delete_item(TableName=self.table, Key=self._key(pk, sk))

    def move(self, pk: str, sk: str, new_sk: str) -> None:
        item = self.snapshot(pk, sk)
        self.restore(item | {"sk": {"S": new_sk}})
        self.remove(pk, sk)

    def keys(self, pk: str) -> list[str]:
        found: list[str] = []
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": {"S": f"{self.practice_id}{SEPARATOR}{pk}"}},
        }
        while True:
            page = self.client.query(**kwargs)
            found += [item["sk"]["S"] for item in page["Items"]]
            if "LastEvaluatedKey" not in page:
                return sorted(found)
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def tamperer(store: Store, practice_id: str) -> Tamperer:
    if isinstance(store, SqliteStore):
        return SqliteTamperer(store, practice_id)
    assert isinstance(store, DynamoStore)
    return DynamoTamperer(store, practice_id)
