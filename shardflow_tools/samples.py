"""Realistic sample events for the demo, the benchmarks and load tests.

A deterministic clickstream of an online shop: page views, product views, cart changes,
checkouts and orders by a few thousand users, each event 400-500 bytes once wrapped in the
envelope and serialised. The partition key is the user id, so one user's events stay in
order on one shard.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any, Final

_TYPES: Final = (
    ("page_view", 50),
    ("product_view", 25),
    ("add_to_cart", 12),
    ("remove_from_cart", 3),
    ("checkout_started", 6),
    ("order_placed", 4),
)
_COUNTRIES: Final = ("DE", "FR", "GB", "US", "NL", "PL", "ES", "IT", "SE", "BR")
_AGENTS: Final = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0",
)
_PAGES: Final = ("/", "/search", "/category/shoes", "/category/jackets", "/cart", "/account")


def sample_events(
    count: int, *, users: int = 5000, seed: int = 7
) -> Iterator[tuple[dict[str, Any], str]]:
    """``count`` events as ``(event, partition_key)``; the same arguments give the same events.

    Each event carries ``type``, ``source`` and ``data`` (the producer fills the rest of the
    envelope); ``data.seq`` numbers a user's events from 0, so a reader can check order.
    """
    rng = random.Random(seed)
    names = [t for t, _ in _TYPES]
    weights = [w for _, w in _TYPES]
    next_seq: dict[str, int] = {}
    for _ in range(count):
        user = f"user-{rng.randrange(users):05d}"
        seq = next_seq.get(user, 0)
        next_seq[user] = seq + 1
        etype = rng.choices(names, weights)[0]
        product = f"sku-{rng.randrange(20_000):06d}"
        data: dict[str, Any] = {
            "user_id": user,
            "seq": seq,
            "session_id": f"s-{rng.getrandbits(48):012x}",
            "page": rng.choice(_PAGES) if etype == "page_view" else f"/product/{product}",
            "product_id": product,
            "price": {"amount": round(rng.uniform(5, 400), 2), "currency": "EUR"},
            "quantity": rng.randint(1, 3),
            "country": rng.choice(_COUNTRIES),
            "user_agent": rng.choice(_AGENTS),
            "referrer": f"https://example.com/?q=item-{rng.randrange(1000)}",
        }
        yield {"type": etype, "source": "shop/web", "data": data}, user
