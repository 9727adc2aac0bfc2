"""``python -m shardflow.cli``."""

from shardflow.cli import main

raise SystemExit(main())
