"""``python -m consumers.kcl``: the processor the MultiLangDaemon starts for each shard."""

from __future__ import annotations

from consumers.kcl.main import main

if __name__ == "__main__":
    raise SystemExit(main())
