"""The retry policy: one immutable table saying, per error class, whether and how to retry.

Rules are keyed by exception class and resolved along the class hierarchy, the most specific
class winning, so ``RateLimited`` can differ from its family ``RateLimitError``.  The defaults
follow the gateway's docs: retry the request-rate 429, 5xx and transport failures with
backoff; never retry 400/401/402/403/404, a spent quota or a used-up usage window::

    policy = RetryPolicy().with_rule(UpstreamUnavailable, max_retries=5)
    policy = policy | {RateLimited: RetryRule(retry=False)}
    client = ToRouter(retry_policy=policy)

``max_retries`` on the client is the simple knob: it sets the policy's default count, and
``max_retries=0`` turns every retry off whatever the rules say.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType

from ._errors import (
    APIConnectionError,
    APIStatusError,
    InternalServerError,
    InvalidArgumentError,
    RateLimited,
    RateLimitError,
    ToRouterError,
)

_Invalid = InvalidArgumentError  # bad policy values: also a TypeError and a ValueError

__all__ = [
    "DEFAULT_RETRY_POLICY", "Backoff", "ResolvedRule", "RetryPolicy", "RetryRule", "retry_summary",
]


def _check_number(name: str, value: object, *, allow_inf: bool = False) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidArgumentError(f"{name} must be a number, not {value!r}")
    if math.isnan(value) or (math.isinf(value) and not allow_inf):
        raise InvalidArgumentError(f"{name} must be a finite number, not {value!r}")


def _check_count(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidArgumentError(f"{name} must be an int, not {value!r}")
    if value < 0:
        raise InvalidArgumentError(f"{name} must be >= 0, not {value}")


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff: ``min(maximum, initial * multiplier**(n-1))`` before retry ``n``.

    With ``jitter=True`` (full jitter) the sleep is drawn uniformly from ``[0, that]``, which
    spreads the retries of many clients apart.
    """

    initial: float = 0.5
    multiplier: float = 2.0
    maximum: float = 8.0
    jitter: bool = True

    def __post_init__(self) -> None:
        for name in ("initial", "multiplier", "maximum"):
            _check_number(f"Backoff.{name}", getattr(self, name))
        if not isinstance(self.jitter, bool):
            raise InvalidArgumentError(f"Backoff.jitter must be True or False, not {self.jitter!r}")
        if self.initial < 0 or self.maximum < 0 or self.multiplier < 1:
            raise _Invalid("Backoff needs initial >= 0, maximum >= 0 and multiplier >= 1")

    def delay(self, retry_number: int, rand: Callable[[], float] = random.random) -> float:
        """Seconds to sleep before retry number ``retry_number`` (1 = the first retry)."""
        try:
            growth = self.initial * self.multiplier ** max(retry_number - 1, 0)
        except OverflowError:  # far past any maximum (a large multiplier, many retries)
            growth = math.inf if self.initial else 0.0
        ceiling = min(self.maximum, growth)
        return rand() * ceiling if self.jitter else ceiling


@dataclass(frozen=True)
class RetryRule:
    """How to treat one error class. ``None`` fields fall back to the policy's defaults."""

    retry: bool = True
    max_retries: int | None = None
    backoff: Backoff | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.retry, bool):
            raise InvalidArgumentError(f"RetryRule.retry must be True or False, not {self.retry!r}")
        if self.max_retries is not None:
            _check_count("RetryRule.max_retries", self.max_retries)
        if self.backoff is not None and not isinstance(self.backoff, Backoff):
            raise _Invalid(f"RetryRule.backoff must be a Backoff or None, not {self.backoff!r}")


@dataclass(frozen=True)
class ResolvedRule:
    """A rule with every default filled in, for one concrete error class.

    ``source`` is the class whose rule applies.  When ``retry`` is false, ``max_retries`` and
    ``backoff`` say nothing about this class (the stop strategy still reads the count), so the
    repr leaves them out.
    """

    retry: bool
    max_retries: int
    backoff: Backoff
    source: type[BaseException]

    def __repr__(self) -> str:
        if not self.retry:
            return f"ResolvedRule(retry=False, source={self.source.__name__})"
        return (f"ResolvedRule(retry=True, max_retries={self.max_retries}, "
                f"backoff={self.backoff!r}, source={self.source.__name__})")


def _rules_repr(rules: Mapping[type[BaseException], RetryRule]) -> str:
    return "{" + ", ".join(f"{cls.__name__}: {rule!r}" for cls, rule in rules.items()) + "}"


def retry_summary(cls: type[BaseException], policy: RetryPolicy | None = None) -> str:
    """One line saying whether and how ``policy`` (default: the default policy) retries ``cls``.

    The docs' retry table and ``torouter explain`` both print this, so they cannot disagree.
    """
    from ._errors import StreamInterrupted

    policy = policy or DEFAULT_RETRY_POLICY
    rule = policy.rule_for(cls)
    if not rule.retry:
        return "no"
    b = rule.backoff
    plural = "retry" if rule.max_retries == 1 else "retries"
    text = (f"yes: up to {rule.max_retries} {plural}, backoff {b.initial:g} s → {b.maximum:g} s, "
            f"×{b.multiplier:g}, {'full jitter' if b.jitter else 'no jitter'}")  # noqa: RUF001
    if issubclass(cls, StreamInterrupted):
        text += ", only before the stream's first event reaches you"
    return text


_DEFAULT_RULES: Mapping[type[BaseException], RetryRule] = {
    ToRouterError: RetryRule(retry=False),
    APIConnectionError: RetryRule(retry=True),
    APIStatusError: RetryRule(retry=False),
    RateLimitError: RetryRule(retry=True, max_retries=1),
    RateLimited: RetryRule(retry=True, backoff=Backoff(initial=1.0, maximum=32.0)),
    InternalServerError: RetryRule(retry=True),
}


@dataclass(frozen=True)
class RetryPolicy:
    """The retry table. Immutable: every change returns a new policy.

    Args:
        rules: error class -> :class:`RetryRule`, merged over the defaults.
        max_retries: retries for rules that do not set their own count (0 turns all off).
        backoff: backoff for rules that do not set their own.
        max_retry_after: the longest ``Retry-After`` the SDK will sleep for.  When the gateway
            asks for longer, the error is raised at once with ``err.retry_after`` set.
    """

    rules: Mapping[type[BaseException], RetryRule] = field(default_factory=dict)
    max_retries: int = 2
    backoff: Backoff = field(default_factory=Backoff)
    max_retry_after: float = 60.0

    def __post_init__(self) -> None:
        _check_count("RetryPolicy.max_retries", self.max_retries)
        if not isinstance(self.backoff, Backoff):
            raise _Invalid(f"RetryPolicy.backoff must be a Backoff, not {self.backoff!r}")
        _check_number("RetryPolicy.max_retry_after", self.max_retry_after, allow_inf=True)
        if self.max_retry_after < 0:
            raise InvalidArgumentError("RetryPolicy.max_retry_after must be >= 0")
        if not isinstance(self.rules, Mapping):
            raise _Invalid("RetryPolicy.rules must be a mapping of exception class -> RetryRule")
        merged = dict(_DEFAULT_RULES)
        for cls, rule in self.rules.items():
            if not (isinstance(cls, type) and issubclass(cls, BaseException)):
                raise _Invalid(f"retry rules are keyed by exception classes, not {cls!r}")
            if not isinstance(rule, RetryRule):
                raise InvalidArgumentError(f"the rule for {cls.__name__} must be a RetryRule")
            merged[cls] = rule
        object.__setattr__(self, "rules", MappingProxyType(merged))
        object.__setattr__(self, "_cache", {})

    def __repr__(self) -> str:
        return (f"RetryPolicy(max_retries={self.max_retries}, backoff={self.backoff!r}, "
                f"max_retry_after={self.max_retry_after:g}, rules={_rules_repr(self.rules)})")

    def rule_for(self, cls: type[BaseException]) -> ResolvedRule:
        """The rule that applies to ``cls``: the most specific class in its MRO that has one."""
        cache: dict[type[BaseException], ResolvedRule] = self._cache  # type: ignore[attr-defined]
        resolved = cache.get(cls)
        if resolved is None:
            rule: RetryRule = RetryRule(retry=False)
            source: type[BaseException] = BaseException
            for klass in cls.__mro__:
                if klass in self.rules:
                    rule, source = self.rules[klass], klass
                    break
            count = self.max_retries if rule.max_retries is None else rule.max_retries
            # max_retries=0 on the policy is the master switch: no class is retried.
            retry = rule.retry and count > 0 and self.max_retries > 0
            resolved = ResolvedRule(retry, count, rule.backoff or self.backoff, source)
            cache[cls] = resolved
        return resolved

    def with_rule(
        self,
        cls: type[BaseException],
        *,
        retry: bool = True,
        max_retries: int | None = None,
        backoff: Backoff | None = None,
    ) -> RetryPolicy:
        """A copy with the rule for ``cls`` replaced."""
        return self | {cls: RetryRule(retry=retry, max_retries=max_retries, backoff=backoff)}

    def replace(self, **changes: object) -> RetryPolicy:
        """A copy with fields replaced (``max_retries``, ``backoff``, ``max_retry_after``...)."""
        if "rules" not in changes:
            changes["rules"] = self.rules
        return replace(self, **changes)  # type: ignore[arg-type]

    def __or__(self, other: Mapping[type[BaseException], RetryRule]) -> RetryPolicy:
        """``policy | {Cls: RetryRule(...)}``: a copy with these rules merged in."""
        if isinstance(other, RetryPolicy):
            other = other.rules
        if not isinstance(other, Mapping):
            return NotImplemented
        return replace(self, rules={**self.rules, **other})

    def disabled(self) -> RetryPolicy:
        """A copy that never retries (what ``max_retries=0`` gives).

        The rules are kept, so ``disabled().replace(max_retries=2)`` retries again.
        """
        return replace(self, max_retries=0)


#: The policy used when none is given; ``err.retryable`` reports what it decides.
DEFAULT_RETRY_POLICY = RetryPolicy()


from ._public import publish as _publish  # noqa: E402

_publish(__name__)
