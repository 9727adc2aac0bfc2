"""The emulator's readiness probe opens only http(s) URLs."""

from __future__ import annotations

import pytest

from shardflow_tools.emulator import EmulatorError, wait_until_ready


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://127.0.0.1:21", "127.0.0.1:4566"])
def test_a_url_that_is_not_http_is_refused_before_anything_is_opened(url: str) -> None:
    with pytest.raises(EmulatorError, match="not an http"):
        wait_until_ready(url, timeout=0)
