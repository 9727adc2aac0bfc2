"""The launcher releases KCL 3's leader lock its worker still holds, and only that."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from consumers.kcl.leader import LEADER_KEY, new_worker_id, release_leader_lock
from shardflow_tools.bootstrap import BootstrapReport, kcl_tables


def _lock(ddb: Any, table: str, owner: str) -> None:
    ddb.put_item(
        TableName=table,
        Item={
            "key": {"S": LEADER_KEY},
            "ownerName": {"S": owner},
            "leaseDuration": {"S": "120000"},
            "recordVersionNumber": {"S": "v1"},
        },
    )


def _owner(ddb: Any, table: str) -> str | None:
    item = ddb.get_item(TableName=table, Key={"key": {"S": LEADER_KEY}}).get("Item")
    return None if item is None else item["ownerName"]["S"]


def test_only_the_lock_this_worker_holds_is_released(
    aws_client: Callable[[str], Any],
    unique_name: Callable[[str], str],
    provision: Callable[..., BootstrapReport],
) -> None:
    app = unique_name("app")
    provision(*kcl_tables(app))
    ddb = aws_client("dynamodb")
    table = f"{app}-CoordinatorState"
    me, other = new_worker_id(), new_worker_id()
    assert me != other

    _lock(ddb, table, other)
    assert not release_leader_lock(app, me, dynamodb=ddb)
    assert _owner(ddb, table) == other  # another worker's lock is left alone

    _lock(ddb, table, me)
    assert release_leader_lock(app, me, dynamodb=ddb)
    assert _owner(ddb, table) is None
    assert not release_leader_lock(app, me, dynamodb=ddb)  # nothing left to release


def test_a_missing_table_is_not_an_error(
    aws_client: Callable[[str], Any], unique_name: Callable[[str], str]
) -> None:
    assert not release_leader_lock(unique_name("app"), "w", dynamodb=aws_client("dynamodb"))
