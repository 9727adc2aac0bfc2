"""shardflow core: what producers and consumers share.

The event envelope (:mod:`shardflow.envelope`), the KPL aggregation wire format
(:mod:`shardflow.kpl`), partition-key hashing and shard maps (:mod:`shardflow.hashing`),
the AWS client factory (:mod:`shardflow.aws`), settings (:mod:`shardflow.settings`),
resource names (:mod:`shardflow.resources`) and the error base (:mod:`shardflow.errors`).
The core imports neither ``producers`` nor ``consumers`` nor the local tooling
(``shardflow_tools``: the CLI, emulators, bootstrap, packaging). The modules that used to
hold that tooling here (``shardflow.cli``, ``shardflow.emulator``, ...) are aliases of
their new place.
"""

from shardflow.errors import ShardflowError

__version__ = "0.1.0"

__all__ = ["ShardflowError", "__version__"]
