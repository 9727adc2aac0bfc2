"""``python -m shardflow_tools.cli``."""

from shardflow_tools.cli import main

raise SystemExit(main())
