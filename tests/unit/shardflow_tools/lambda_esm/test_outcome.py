"""Reading a handler's response as Lambda does with ReportBatchItemFailures."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from shardflow_tools.lambda_esm.outcome import Outcome, interpret

MakeRecords = Callable[..., list[Any]]


@pytest.mark.parametrize(
    "response", [None, {}, {"batchItemFailures": []}, {"batchItemFailures": None}]
)
def test_empty_or_missing_failure_list_is_a_complete_success(
    make_records: MakeRecords, response: Any
) -> None:
    assert interpret(response, make_records(3), report_batch_item_failures=True).outcome is (
        Outcome.SUCCESS
    )


def test_lowest_reported_sequence_number_is_where_the_retry_starts(
    make_records: MakeRecords,
) -> None:
    batch = make_records(5)
    response = {
        "batchItemFailures": [
            {"itemIdentifier": batch[4].sequence_number},
            {"itemIdentifier": batch[2].sequence_number},
        ]
    }
    result = interpret(response, batch, report_batch_item_failures=True)
    assert result.outcome is Outcome.PARTIAL
    assert result.first_failed == 2


@pytest.mark.parametrize(
    "failures",
    [
        [{"itemIdentifier": ""}],
        [{"itemIdentifier": None}],
        [{"itemidentifier": "x"}],
        [{"itemIdentifier": "12345"}],  # not in the batch
        ["4959"],
        "not-a-list",
    ],
)
def test_malformed_failure_lists_fail_the_whole_batch(
    make_records: MakeRecords, failures: Any
) -> None:
    result = interpret(
        {"batchItemFailures": failures}, make_records(2), report_batch_item_failures=True
    )
    assert result.outcome is Outcome.ERROR
    assert not result.function_error
    assert result.error


def test_a_non_object_response_fails_the_batch(make_records: MakeRecords) -> None:
    result = interpret("ok", make_records(1), report_batch_item_failures=True)
    assert result.outcome is Outcome.ERROR


def test_without_report_batch_item_failures_the_response_is_ignored(
    make_records: MakeRecords,
) -> None:
    batch = make_records(2)
    response = {"batchItemFailures": [{"itemIdentifier": batch[0].sequence_number}]}
    assert interpret(response, batch, report_batch_item_failures=False).outcome is (Outcome.SUCCESS)
