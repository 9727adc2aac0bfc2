"""``python -m shardflow``: the same as the ``shardflow`` command (the CLI lives in
:mod:`shardflow_tools.cli`; run by name, so the core never imports the tooling)."""

import runpy

runpy.run_module("shardflow_tools.cli", run_name="__main__", alter_sys=True)
