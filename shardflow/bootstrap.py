"""Alias: moved to :mod:`shardflow_tools.bootstrap` (local and build tooling)."""

from shardflow._alias import alias

alias(__name__, "shardflow_tools.bootstrap")
