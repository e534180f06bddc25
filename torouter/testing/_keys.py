"""API keys, their per-key limits and the owning accounts (api doc §7, §2)."""

from __future__ import annotations

import ipaddress
import re
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Literal

__all__ = [
    "WINDOW_SECONDS",
    "Account",
    "KeyState",
    "SubscriptionState",
    "UsageWindow",
    "UserState",
    "ip_allowed",
    "mask_key",
    "model_allowed",
    "parse_cidrs",
    "parse_models",
]

UserState = Literal["active", "inactive", "missing"]
SubscriptionState = Literal["none", "active", "paused", "cancelled"]
UsageWindow = Literal["daily", "weekly", "monthly"]

WINDOW_SECONDS: tuple[float, float, float] = (5 * 3600.0, 24 * 3600.0, 7 * 24 * 3600.0)
"""The three sliding request windows: ~5 hours, 24 hours, 7 days (§7)."""

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_SPLIT = re.compile(r"[\s,]+")


def mask_key(key: str | None) -> str | None:
    """``sk-fake-0123…abcd`` → ``sk-…abcd``: never show a whole key in a repr or log."""
    if key is None:
        return None
    if len(key) < 12:
        return "…"
    return f"{key[:3]}…{key[-4:]}"


def parse_cidrs(value: str | Iterable[str]) -> tuple[IPNetwork, ...]:
    """CIDR list from a string (one per line, or comma/space separated) or an iterable.

    A bare address means a single host (``/32`` or ``/128``); host bits are tolerated.
    """
    items = _SPLIT.split(value) if isinstance(value, str) else list(value)
    return tuple(ipaddress.ip_network(s.strip(), strict=False) for s in items if s.strip())


def parse_models(value: str | Iterable[str]) -> frozenset[str]:
    """Model whitelist: comma-separated, whitespace trimmed, empty items dropped (§7 [p30])."""
    items = value.split(",") if isinstance(value, str) else list(value)
    return frozenset(s.strip() for s in items if s.strip())


def _in_any(ip: IPAddress, nets: tuple[IPNetwork, ...]) -> bool:
    mapped = ip.ipv4_mapped if isinstance(ip, ipaddress.IPv6Address) else None
    return any(ip in net or (mapped is not None and mapped in net) for net in nets)


def ip_allowed(client_ip: str, allow: tuple[IPNetwork, ...], block: tuple[IPNetwork, ...]) -> bool:
    """The allow/block combination rules of §7 [p16].

    Both empty → everyone; only ``allow`` → must be inside it; only ``block`` → everyone except
    listed; both → inside ``allow`` and not in ``block``. An unparsable client address is denied
    as soon as any rule exists. IPv4-mapped IPv6 addresses also match their IPv4 form.
    """
    if not allow and not block:
        return True
    try:
        ip = ipaddress.ip_address(client_ip.strip().strip("[]"))
    except ValueError:
        return False
    if allow and not _in_any(ip, allow):
        return False
    return not (block and _in_any(ip, block))


def model_allowed(model: str, whitelist: frozenset[str]) -> bool:
    """Model whitelist rule of §7 [p30]: empty → all; literal compare (vendor prefix included);
    a base id also allows its ``-thinking`` variant."""
    if not whitelist or model in whitelist:
        return True
    return model.endswith("-thinking") and model[: -len("-thinking")] in whitelist


def to_epoch(value: datetime | float | None, created: float) -> float | None:
    """Expiry as epoch seconds: a datetime (naive = UTC) or N days after creation; 0/None: never."""
    if value is None:
        return None
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return value.timestamp()
    if value == 0:
        return None
    return created + float(value) * 86400.0


@dataclass
class Account:
    """The user owning keys: state, pay-per-token balance, subscription, plan usage windows."""

    name: str
    state: UserState = "active"
    balance_usd: float = 100.0
    subscription: SubscriptionState = "none"
    exhausted_windows: set[UsageWindow] = field(default_factory=set)


@dataclass
class KeyState:
    """One API key and its limits (§7). The key string itself is never shown in ``repr``."""

    key: str = field(repr=False)
    user: str
    created: float
    enabled: bool = True
    expires_at: float | None = None
    ip_allow: tuple[IPNetwork, ...] = ()
    ip_block: tuple[IPNetwork, ...] = ()
    models: frozenset[str] = frozenset()
    quota_usd: float = 0.0
    windows: tuple[int, int, int] = (0, 0, 0)
    requires_subscription: bool = False
    spent_usd: float = 0.0
    hits: deque[float] = field(default_factory=deque, repr=False)

    @property
    def masked(self) -> str:
        """The key as shown in logs: ``sk-…abcd``."""
        return mask_key(self.key) or "…"

    def __repr__(self) -> str:
        return (
            f"KeyState(key={self.masked!r}, user={self.user!r}, enabled={self.enabled}, "
            f"quota_usd={self.quota_usd}, spent_usd={self.spent_usd:.6f}, windows={self.windows})"
        )

    def window_admit(self, now: float) -> bool:
        """Sliding windows (§7): admit (and count) a call only if every enabled window has room."""
        while self.hits and self.hits[0] <= now - WINDOW_SECONDS[2]:
            self.hits.popleft()
        for seconds, limit in zip(WINDOW_SECONDS, self.windows, strict=True):
            if limit > 0 and sum(1 for t in self.hits if t > now - seconds) >= limit:
                return False
        if any(self.windows):
            self.hits.append(now)
        return True
