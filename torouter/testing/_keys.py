"""API keys, their per-key limits and the owning accounts (api doc §7, §2)."""

from __future__ import annotations

import hashlib
import ipaddress
import re
import threading
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Literal, NamedTuple

from ._clock import Clock
from ._errors import RATE_LIMIT

__all__ = [
    "WINDOW_SECONDS",
    "Account",
    "KeyRing",
    "KeyState",
    "Rejection",
    "SubscriptionState",
    "UsageWindow",
    "UserState",
    "ip_allowed",
    "mask_key",
    "model_allowed",
    "parse_cidrs",
    "parse_models",
    "seeded_hex",
    "to_epoch",
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
        return "sk-…" if key.startswith("sk-") else "…"
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


class Rejection(NamedTuple):
    """Why a request is refused: a documented error code (§3) and an optional message."""

    code: str
    message: str | None = None


def seeded_hex(seed: int, kind: str, n: int, length: int) -> str:
    """Deterministic hex id number ``n`` of ``kind`` for ``seed``."""
    return hashlib.sha256(f"{seed}:{kind}:{n}".encode()).hexdigest()[:length]


class KeyRing:
    """The keys and accounts of a gateway, with the checks of §7 (base of ``FakeGateway``).

    All methods are thread-safe (they share the gateway's lock).
    """

    def __init__(
        self, *, clock: Clock, seed: int, default_balance_usd: float, lock: threading.RLock
    ) -> None:
        self.clock: Clock = clock
        self.seed = seed
        self.default_balance_usd = default_balance_usd
        self._lock = lock
        self._keys: dict[str, KeyState] = {}
        self._accounts: dict[str, Account] = {}
        self._n_keys = 0

    def add_key(
        self,
        *,
        enabled: bool = True,
        expires_at: datetime | float | None = None,
        ip_allow: str | Iterable[str] = (),
        ip_block: str | Iterable[str] = (),
        models: str | Iterable[str] = (),
        quota_usd: float = 0,
        windows: tuple[int, int, int] = (0, 0, 0),
        user: str = "user",
        requires_subscription: bool = False,
        key: str | None = None,
    ) -> str:
        """Create a key with the per-key limits of §7 and return its string (``sk-fake-<hex>``).

        ``expires_at``: a datetime (naive = UTC) or a number of days after creation; ``0``/``None``
        = never. ``ip_allow``/``ip_block``: IPv4/IPv6 CIDRs (iterable, or one string separated by
        newlines/commas). ``models``: whitelist (iterable or comma-separated string; empty = whole
        catalog). ``quota_usd``: spend cap, ``0`` = none. ``windows``: max requests per sliding
        ~5 h / 24 h / 7 d window, ``0`` = disabled. ``user`` is created (active) if new.
        """
        with self._lock:
            now = self.clock()
            if key is None:
                while True:
                    self._n_keys += 1
                    key = "sk-fake-" + seeded_hex(self.seed, "key", self._n_keys, 32)
                    if key not in self._keys:
                        break
            self._account(user)
            self._keys[key] = KeyState(
                key=key,
                user=user,
                created=now,
                enabled=enabled,
                expires_at=to_epoch(expires_at, now),
                ip_allow=parse_cidrs(ip_allow),
                ip_block=parse_cidrs(ip_block),
                models=parse_models(models),
                quota_usd=float(quota_usd),
                windows=windows,
                requires_subscription=requires_subscription,
            )
            return key

    def update_key(self, key: str, **changes: Any) -> None:
        """Change a key's limits; accepts the keyword arguments of :meth:`add_key` except ``key``
        and ``user``. Applies from the next request (§7)."""
        with self._lock:
            ks = self._key(key)
            for name, value in changes.items():
                if name == "expires_at":
                    ks.expires_at = to_epoch(value, ks.created)
                elif name in ("ip_allow", "ip_block"):
                    setattr(ks, name, parse_cidrs(value))
                elif name == "models":
                    ks.models = parse_models(value)
                elif name in ("enabled", "quota_usd", "windows", "requires_subscription"):
                    setattr(ks, name, value)
                else:
                    raise TypeError(f"update_key() got an unexpected keyword argument {name!r}")

    def delete_key(self, key: str) -> None:
        """Revoke a key: later requests get 401 ``INVALID_API_KEY`` (§7)."""
        with self._lock:
            self._keys.pop(key, None)

    def key_info(self, key: str) -> KeyState:
        """The live state of a key (limits, ``spent_usd``); treat it as read-only."""
        with self._lock:
            return self._key(key)

    def add_user(
        self,
        name: str,
        *,
        state: UserState = "active",
        balance_usd: float | None = None,
        subscription: SubscriptionState = "none",
    ) -> Account:
        """Create or reset an account owning keys."""
        with self._lock:
            acct = Account(
                name,
                state,
                self.default_balance_usd if balance_usd is None else balance_usd,
                subscription,
            )
            self._accounts[name] = acct
            return acct

    def account(self, user: str = "user") -> Account:
        """The live account of ``user`` (created if new)."""
        with self._lock:
            return self._account(user)

    def set_user_state(self, user: str, state: UserState) -> None:
        """``"active"``, ``"inactive"`` (→ ``USER_INACTIVE``) or ``"missing"``
        (→ ``USER_NOT_FOUND``)."""
        with self._lock:
            self._account(user).state = state

    def set_balance(self, user: str, usd: float) -> None:
        """Set the pay-per-token balance; ``<= 0`` → ``INSUFFICIENT_BALANCE`` for keys that do not
        require a subscription."""
        with self._lock:
            self._account(user).balance_usd = usd

    def set_subscription(self, user: str, state: SubscriptionState) -> None:
        """Subscription state seen by keys with ``requires_subscription``: ``"none"`` →
        ``SUBSCRIPTION_NOT_FOUND``; ``"paused"``/``"cancelled"`` → ``SUBSCRIPTION_INVALID``."""
        with self._lock:
            self._account(user).subscription = state

    def exhaust_usage_window(
        self, user: str, window: UsageWindow = "daily", *, exhausted: bool = True
    ) -> None:
        """Mark the plan's daily/weekly/monthly usage window used up (→ 429
        ``USAGE_LIMIT_EXCEEDED`` for every key of ``user``); ``exhausted=False`` rolls it over."""
        with self._lock:
            windows = self._account(user).exhausted_windows
            if exhausted:
                windows.add(window)
            else:
                windows.discard(window)

    def _account(self, user: str) -> Account:
        acct = self._accounts.get(user)
        if acct is None:
            acct = self._accounts[user] = Account(user, balance_usd=self.default_balance_usd)
        return acct

    def _key(self, key: str) -> KeyState:
        try:
            return self._keys[key]
        except KeyError:
            raise KeyError(mask_key(key)) from None

    # ------------------------------------------------------------------ checks
    def check_access(
        self, key: str | None, client_ip: str, now: float
    ) -> tuple[KeyState, Account] | Rejection:
        """Key, user and IP checks, in this order (§3, §7); needs no request body."""
        if key is None:
            return Rejection("API_KEY_REQUIRED")
        ks = self._keys.get(key)
        if ks is None:
            return Rejection("INVALID_API_KEY")
        if not ks.enabled:
            return Rejection("API_KEY_DISABLED")
        if ks.expires_at is not None and now >= ks.expires_at:  # §11 item 1
            return Rejection("API_KEY_EXPIRED")
        acct = self._accounts.get(ks.user)
        if acct is None or acct.state == "missing":
            return Rejection("USER_NOT_FOUND")
        if acct.state == "inactive":
            return Rejection("USER_INACTIVE")
        if not ip_allowed(client_ip, ks.ip_allow, ks.ip_block):  # §7 [p16], §11 item 4
            return Rejection("ACCESS_DENIED", "ip not allowed")
        return ks, acct

    def check_limits(self, ks: KeyState, acct: Account, now: float) -> Rejection | None:
        """Subscription, plan usage windows, balance, spend cap, then the sliding request windows
        (which count the call only when everything else passed)."""
        if ks.requires_subscription:
            if acct.subscription == "none":
                return Rejection("SUBSCRIPTION_NOT_FOUND")
            if acct.subscription != "active":
                return Rejection("SUBSCRIPTION_INVALID", f"subscription is {acct.subscription}")
        if acct.exhausted_windows:
            window = sorted(acct.exhausted_windows)[0]
            return Rejection("USAGE_LIMIT_EXCEEDED", f"{window} usage limit exceeded")
        if not ks.requires_subscription and acct.balance_usd <= 0:  # §11 item 3
            return Rejection("INSUFFICIENT_BALANCE")
        if ks.quota_usd > 0 and ks.spent_usd >= ks.quota_usd:  # §11 item 2
            return Rejection("API_KEY_QUOTA_EXHAUSTED")
        if not ks.window_admit(now):  # §7 three sliding windows
            return Rejection(RATE_LIMIT)
        return None

    @staticmethod
    def charge(ks: KeyState, acct: Account, usd: float) -> None:
        """Bill a served request: the key's spend, and the balance of pay-per-token keys."""
        ks.spent_usd += usd
        if not ks.requires_subscription:
            acct.balance_usd -= usd


from .._public import publish as _publish  # noqa: E402

_publish(__name__)
