"""The context object the runner passes to the handler, shaped like Lambda's."""

from __future__ import annotations

import time
import uuid
from typing import Any


class LocalContext:
    """A Lambda context for one local invocation.

    Carries what handlers and powertools read: function name, version, ARN, memory, request
    id, log group and stream, and the remaining time before the configured timeout.
    """

    def __init__(
        self,
        *,
        function_name: str,
        function_arn: str,
        timeout_seconds: float,
        memory_limit_in_mb: int = 128,
        request_id: str | None = None,
    ) -> None:
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.invoked_function_arn = function_arn
        self.memory_limit_in_mb = memory_limit_in_mb
        self.aws_request_id = request_id or str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = time.strftime("%Y/%m/%d/[$LATEST]") + uuid.uuid4().hex
        self.identity: Any = None
        self.client_context: Any = None
        self.tenant_id: str | None = None
        self._deadline = time.monotonic() + timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        """Milliseconds until the invocation's timeout (0 once past it)."""
        return max(0, int((self._deadline - time.monotonic()) * 1000))
