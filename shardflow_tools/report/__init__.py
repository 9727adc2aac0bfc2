"""The pipeline report of ``shardflow demo`` (``make run``) and ``make soak``.

* :mod:`~shardflow_tools.report.latency`: a fixed-size latency histogram and its percentiles;
* :mod:`~shardflow_tools.report.timeline`: per-second series of what was produced and
  delivered, and how late;
* :mod:`~shardflow_tools.report.observer`: polls a consumer's S3 output as Athena reads it
  and notes when each event became visible;
* :mod:`~shardflow_tools.report.html`: the report as one self-contained HTML file (inline
  SVG chart, no external asset);
* :mod:`~shardflow_tools.report.kcl_worker`: the KCL consumer (``shardflow consume kcl``)
  as a child process, when this machine can run it;
* :mod:`~shardflow_tools.report.rss`: resident memory of a process and its children.
"""

from __future__ import annotations

from shardflow_tools.report.latency import LatencyHistogram
from shardflow_tools.report.timeline import Timeline

__all__ = ("LatencyHistogram", "Timeline")
