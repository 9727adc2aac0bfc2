"""The report's two Athena-style queries, run through ``shardflow query`` as a user would."""

from __future__ import annotations

import contextlib
import io
import shlex
from typing import Final

#: The Athena-style queries of the report: events per type (and distinct ids: duplicates
#: would show), and what each partition and shard holds.
ATHENA_QUERIES: Final = (
    "SELECT type, count(*) AS events, count(DISTINCT id) AS ids FROM events "
    "GROUP BY type ORDER BY events DESC",
    "SELECT dt, hr, shard_id, count(*) AS events, min(time) AS first, max(time) AS last "
    "FROM events GROUP BY dt, hr, shard_id ORDER BY dt, hr, shard_id",
)


def athena_queries(endpoint: str, bucket: str, prefix: str) -> list[str]:
    """The two Athena-style queries run through ``shardflow query``: each command line as a
    user would type it, then its answer."""
    from shardflow_tools.cli import main  # noqa: PLC0415 - the CLI's own entry point

    lines: list[str] = []
    for sql in ATHENA_QUERIES:
        argv = ["query", sql, "--bucket", bucket, "--prefix", prefix, "--endpoint-url", endpoint]
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(argv)
        lines.append("$ shardflow " + shlex.join(argv))
        answer = out.getvalue() if code == 0 else err.getvalue()
        lines += ["  " + line for line in answer.rstrip("\n").splitlines()]
    return lines
