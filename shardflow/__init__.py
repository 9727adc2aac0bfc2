"""shardflow core: what producers and consumers share.

The event envelope (:mod:`shardflow.envelope`), the KPL aggregation wire format
(:mod:`shardflow.kpl`), partition-key hashing and shard maps (:mod:`shardflow.hashing`),
the AWS client factory (:mod:`shardflow.aws`), settings (:mod:`shardflow.settings`) and the
embedded emulator (:mod:`shardflow.emulator`). The core imports neither ``producers`` nor
``consumers``; only the CLI dispatches to them.
"""

from shardflow.errors import ShardflowError

__version__ = "0.1.0"

__all__ = ["ShardflowError", "__version__"]
