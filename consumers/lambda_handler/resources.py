"""Alias: creating the handler's resources moved to :mod:`shardflow_tools.lambda_esm.resources`
(local tooling: the handler never creates resources; bootstrap's spec does, for local runs)."""

from shardflow._alias import alias

alias(__name__, "shardflow_tools.lambda_esm.resources")
