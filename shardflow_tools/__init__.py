"""shardflow's local and build tooling: what runs on a laptop or in CI, never in production.

The ``shardflow`` CLI (:mod:`shardflow_tools.cli`), the embedded emulators
(:mod:`shardflow_tools.emulator`, :mod:`shardflow_tools.emulator_h2` for the KCL's HTTP/2
client, and the resharding shim :mod:`shardflow_tools.emulator_resharding`), resource
creation (:mod:`shardflow_tools.bootstrap`), the local Lambda event source mapping runner
(:mod:`shardflow_tools.lambda_esm`), the Lambda zip builder (:mod:`shardflow_tools.packaging`)
and sample events (:mod:`shardflow_tools.samples`).

It sits on top of the runtimes (``producers``, ``consumers``) and the core (``shardflow``):
it may import them; they never import it (an import-linter contract holds this), and the
Lambda deployment zip contains none of it.
"""
