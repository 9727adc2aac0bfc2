"""Alias: the local event source mapping runner moved to :mod:`shardflow_tools.lambda_esm`
(local tooling: it emulates an AWS service and does not ship in the Lambda zip)."""

from shardflow._alias import alias

alias(__name__, "shardflow_tools.lambda_esm")
