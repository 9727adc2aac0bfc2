"""Alias: moved to :mod:`shardflow_tools.emulator` (local and build tooling)."""

import runpy

from shardflow._alias import alias

if __name__ == "__main__":  # `python -m shardflow.emulator` as before
    runpy.run_module("shardflow_tools.emulator", run_name="__main__", alter_sys=True)
else:
    alias(__name__, "shardflow_tools.emulator")
