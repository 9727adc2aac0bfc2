"""``python -m shardflow.cli``: the same as the ``shardflow`` command."""

import runpy

runpy.run_module("shardflow_tools.cli", run_name="__main__", alter_sys=True)
