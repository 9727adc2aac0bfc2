"""Alias: the CLI moved to :mod:`shardflow_tools.cli` (local and build tooling)."""

from shardflow._alias import alias

alias(__name__, "shardflow_tools.cli")
