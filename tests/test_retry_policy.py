"""RetryPolicy, RetryRule and Backoff as values: the default table, resolution along the class
hierarchy, the ways to change a policy, immutability and validation.

The engine that applies a policy to real calls is tested in ``test_retry_engine.py``.
"""

from __future__ import annotations

import dataclasses
import math

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

import torouter
from torouter import (
    DEFAULT_RETRY_POLICY,
    ERROR_CATALOG,
    APIConnectionError,
    APIResponseValidationError,
    APIStatusError,
    APITimeoutError,
    AsyncToRouter,
    Backoff,
    BadRequestError,
    InternalServerError,
    InvalidArgumentError,
    NoEligibleChannel,
    QuotaExhausted,
    RateLimited,
    RateLimitError,
    RetryPolicy,
    RetryRule,
    StreamIdleTimeout,
    StreamInterrupted,
    ToRouter,
    ToRouterError,
    UpstreamTimeout,
    UpstreamUnavailable,
    UsageLimitExceeded,
)

KEY = "sk-policy-test-0123456789"
NOWHERE = httpx.MockTransport(lambda request: httpx.Response(599))


def new(cls: type[ToRouter] | type[AsyncToRouter] = ToRouter, **kwargs: object) -> ToRouter:
    """A client that needs no TLS set-up (these tests send nothing)."""
    http = httpx.Client(transport=NOWHERE) if cls is ToRouter else httpx.AsyncClient(
        transport=NOWHERE)
    client: ToRouter = cls(api_key=KEY, http_client=http, **kwargs)  # type: ignore[arg-type]
    return client

FAST = Backoff(initial=0.5, multiplier=2.0, maximum=8.0, jitter=True)
RATE = Backoff(initial=1.0, multiplier=2.0, maximum=32.0, jitter=True)

# The defaults, written out by hand from the gateway's docs (retry the request-rate 429, 5xx and
# transport failures; never 400/401/402/403/404, a spent quota or a used-up usage window; an
# unrecognised 429 only once).  name -> (retried?, max retries, backoff) or None = not retried.
EXPECTED_DEFAULTS: dict[str, tuple[int, Backoff] | None] = {
    "ApiKeyRequired": None,
    "InvalidApiKey": None,
    "KeyDisabled": None,
    "KeyExpired": None,
    "UserNotFound": None,
    "UserInactive": None,
    "AccessDenied": None,
    "SubscriptionNotFound": None,
    "SubscriptionInvalid": None,
    "InsufficientBalance": None,
    "QuotaExhausted": None,
    "UsageLimitExceeded": None,
    "RateLimited": (2, RATE),
    "ApiKeyInQueryDeprecated": None,
    "UpstreamUnavailable": (2, FAST),
    "NoEligibleChannel": (2, FAST),
    "UpstreamTimeout": (2, FAST),
    "BadRequestError": None,
    "AuthenticationError": None,
    "PermissionDeniedError": None,
    "BillingError": None,
    "NotFoundError": None,
    "RateLimitError": (1, FAST),
    "InternalServerError": (2, FAST),
    "APIConnectionError": (2, FAST),
    "APITimeoutError": (2, FAST),
    "StreamInterrupted": (2, FAST),
    "StreamIdleTimeout": (2, FAST),
    "APIResponseValidationError": None,
    "OutputError": None,
    "LengthFinishReasonError": None,
    "ContentFilterFinishReasonError": None,
    "OutputValidationError": None,
}


# --- the default table ---------------------------------------------------------------------


def test_the_expected_table_covers_every_catalogued_class() -> None:
    assert {e.name for e in ERROR_CATALOG} == set(EXPECTED_DEFAULTS)


@pytest.mark.parametrize("entry", ERROR_CATALOG, ids=lambda e: e.name)
def test_every_default_rule(entry: torouter.CatalogEntry) -> None:
    rule = DEFAULT_RETRY_POLICY.rule_for(entry.cls)
    expected = EXPECTED_DEFAULTS[entry.name]
    if expected is None:
        assert rule.retry is False, f"{entry.name} must not be retried by default"
    else:
        count, backoff = expected
        assert rule.retry is True, f"{entry.name} must be retried by default"
        assert rule.max_retries == count
        assert rule.backoff == backoff
    # The error's own flag and the catalog row say the same as the policy.
    assert entry.retried is rule.retry
    err = entry.cls("x")
    assert err.retryable is rule.retry


@pytest.mark.parametrize(
    "cls", [ToRouterError, APIStatusError, InvalidArgumentError, torouter.StreamDecodeError]
)
def test_classes_outside_the_catalog_are_not_retried(cls: type[ToRouterError]) -> None:
    assert DEFAULT_RETRY_POLICY.rule_for(cls).retry is False


def test_exceptions_that_are_not_torouter_errors_are_never_retried() -> None:
    assert DEFAULT_RETRY_POLICY.rule_for(KeyError).retry is False
    assert DEFAULT_RETRY_POLICY.rule_for(BaseException).retry is False


def test_rate_limited_backs_off_from_1s_to_32s() -> None:
    backoff = DEFAULT_RETRY_POLICY.rule_for(RateLimited).backoff
    ceilings = [backoff.delay(n, rand=lambda: 1.0) for n in range(1, 9)]
    assert ceilings == [1, 2, 4, 8, 16, 32, 32, 32]
    assert backoff.jitter is True


def test_the_default_backoff_is_half_a_second_to_eight() -> None:
    backoff = DEFAULT_RETRY_POLICY.rule_for(UpstreamUnavailable).backoff
    assert [backoff.delay(n, rand=lambda: 1.0) for n in range(1, 7)] == [0.5, 1, 2, 4, 8, 8]


def test_the_default_client_uses_the_default_policy() -> None:
    client = new()
    assert client.retry_policy is DEFAULT_RETRY_POLICY
    assert client.max_retries == 2
    assert DEFAULT_RETRY_POLICY.max_retry_after == 60.0


# --- backoff bounds --------------------------------------------------------------------------


@given(
    initial=st.floats(0, 100),
    multiplier=st.floats(1, 10),
    maximum=st.floats(0, 1000),
    retry_number=st.integers(1, 200),
    r=st.floats(0, 1, exclude_max=True),
)
def test_full_jitter_stays_within_zero_and_the_exponential_ceiling(
    initial: float, multiplier: float, maximum: float, retry_number: int, r: float
) -> None:
    backoff = Backoff(initial=initial, multiplier=multiplier, maximum=maximum)
    # The documented formula, min(maximum, initial * multiplier**(n-1)); a product beyond any
    # float is beyond any maximum.
    try:
        growth = initial * multiplier ** (retry_number - 1)
    except OverflowError:
        growth = math.inf if initial else 0.0
    ceiling = min(maximum, growth)
    delay = backoff.delay(retry_number, rand=lambda: r)
    assert 0 <= delay <= ceiling
    assert math.isclose(delay, r * ceiling, rel_tol=1e-9, abs_tol=1e-12)
    fixed = Backoff(initial=initial, multiplier=multiplier, maximum=maximum, jitter=False)
    assert fixed.delay(retry_number, rand=lambda: r) == ceiling


def test_jitter_uses_real_randomness_by_default() -> None:
    delays = {Backoff().delay(3) for _ in range(50)}
    assert len(delays) > 1
    assert all(0 <= d <= 2.0 for d in delays)


# --- resolution along the class hierarchy -----------------------------------------------------


class CustomRateLimit(RateLimitError):
    """A sibling of RateLimited without a rule of its own."""


def test_overriding_a_family_leaves_a_more_specific_rule_alone() -> None:
    policy = DEFAULT_RETRY_POLICY | {RateLimitError: RetryRule(retry=False)}
    assert policy.rule_for(RateLimitError).retry is False
    # RateLimited has its own default rule: the most specific class wins.
    assert policy.rule_for(RateLimited).retry is True
    assert policy.rule_for(RateLimited).source is RateLimited
    # A sibling without a rule follows the family rule.
    assert policy.rule_for(CustomRateLimit).retry is False
    assert policy.rule_for(CustomRateLimit).source is RateLimitError
    # QuotaExhausted is a 429 too, but a BillingError: untouched, still not retried.
    assert policy.rule_for(QuotaExhausted).retry is False
    assert policy.rule_for(UsageLimitExceeded).retry is False


def test_overriding_the_specific_class_leaves_its_family_alone() -> None:
    policy = DEFAULT_RETRY_POLICY.with_rule(RateLimited, retry=False)
    assert policy.rule_for(RateLimited).retry is False
    assert policy.rule_for(RateLimitError).retry is True
    assert policy.rule_for(CustomRateLimit).retry is True
    assert policy.rule_for(CustomRateLimit).max_retries == 1


def test_a_family_count_reaches_subclasses_without_a_rule() -> None:
    policy = DEFAULT_RETRY_POLICY.with_rule(InternalServerError, max_retries=5)
    for cls in (InternalServerError, UpstreamUnavailable, NoEligibleChannel, UpstreamTimeout):
        assert policy.rule_for(cls).max_retries == 5, cls.__name__
    policy = DEFAULT_RETRY_POLICY.with_rule(UpstreamUnavailable, max_retries=7)
    assert policy.rule_for(NoEligibleChannel).max_retries == 7  # a subclass
    assert policy.rule_for(UpstreamTimeout).max_retries == 2  # a sibling
    assert policy.rule_for(InternalServerError).max_retries == 2  # the parent


def test_resolution_follows_the_mro_of_multiply_inherited_classes() -> None:
    # StreamIdleTimeout(StreamInterrupted, APITimeoutError): StreamInterrupted comes first.
    policy = DEFAULT_RETRY_POLICY.with_rule(APITimeoutError, max_retries=4)
    assert policy.rule_for(StreamIdleTimeout).max_retries == 4
    policy = policy.with_rule(StreamInterrupted, max_retries=1)
    assert policy.rule_for(StreamIdleTimeout).max_retries == 1
    assert policy.rule_for(APITimeoutError).max_retries == 4


def test_the_issue_example_retry_upstream_5_times_never_rate_limited() -> None:
    policy = DEFAULT_RETRY_POLICY.with_rule(UpstreamUnavailable, max_retries=5).with_rule(
        RateLimited, retry=False
    )
    assert policy.rule_for(UpstreamUnavailable).max_retries == 5
    assert policy.rule_for(NoEligibleChannel).max_retries == 5
    assert policy.rule_for(RateLimited).retry is False
    assert policy.rule_for(UpstreamTimeout).max_retries == 2


def test_a_rule_without_a_count_or_backoff_takes_the_policy_defaults() -> None:
    slow = Backoff(initial=2, maximum=60)
    policy = RetryPolicy(max_retries=4, backoff=slow, rules={UpstreamTimeout: RetryRule()})
    rule = policy.rule_for(UpstreamTimeout)
    assert (rule.retry, rule.max_retries, rule.backoff) == (True, 4, slow)
    # A rule's own values win over the policy's.
    assert policy.rule_for(RateLimited).backoff == RATE
    assert policy.rule_for(RateLimitError).max_retries == 1


# --- changing a policy -----------------------------------------------------------------------


def test_with_rule_returns_a_copy_and_leaves_the_original_alone() -> None:
    before = DEFAULT_RETRY_POLICY.rule_for(UpstreamUnavailable)
    changed = DEFAULT_RETRY_POLICY.with_rule(UpstreamUnavailable, max_retries=9,
                                             backoff=Backoff(initial=3, jitter=False))
    assert changed is not DEFAULT_RETRY_POLICY
    assert changed.rule_for(UpstreamUnavailable).max_retries == 9
    assert changed.rule_for(UpstreamUnavailable).backoff == Backoff(initial=3, jitter=False)
    assert DEFAULT_RETRY_POLICY.rule_for(UpstreamUnavailable) == before
    assert UpstreamUnavailable not in DEFAULT_RETRY_POLICY.rules
    assert changed.rules[UpstreamUnavailable] == RetryRule(
        max_retries=9, backoff=Backoff(initial=3, jitter=False))


def test_or_merges_rules_and_later_rules_win() -> None:
    policy = DEFAULT_RETRY_POLICY | {UpstreamTimeout: RetryRule(max_retries=3)}
    policy = policy | {UpstreamTimeout: RetryRule(max_retries=6), RateLimited: RetryRule(False)}
    assert policy.rule_for(UpstreamTimeout).max_retries == 6
    assert policy.rule_for(RateLimited).retry is False
    # Merging a whole policy takes its rules.
    merged = RetryPolicy() | policy
    assert merged.rule_for(UpstreamTimeout).max_retries == 6
    # The defaults are still there underneath.
    assert policy.rule_for(BadRequestError).retry is False
    assert policy.rule_for(APIConnectionError).retry is True


def test_replace_changes_fields_and_keeps_rules() -> None:
    policy = DEFAULT_RETRY_POLICY.with_rule(UpstreamTimeout, max_retries=6)
    changed = policy.replace(max_retries=4, max_retry_after=5.0, backoff=Backoff(initial=1))
    assert changed.max_retries == 4
    assert changed.max_retry_after == 5.0
    assert changed.rule_for(UpstreamTimeout).max_retries == 6
    assert changed.rule_for(InternalServerError).max_retries == 4
    assert changed.rule_for(InternalServerError).backoff == Backoff(initial=1)
    assert policy.max_retries == 2


def test_replace_rejects_unknown_fields() -> None:
    with pytest.raises(TypeError):
        DEFAULT_RETRY_POLICY.replace(retries=3)


# --- max_retries=0 is the master switch ---------------------------------------------------


def _retried(policy: RetryPolicy) -> list[str]:
    return [e.name for e in ERROR_CATALOG if policy.rule_for(e.cls).retry]


def test_max_retries_zero_on_the_policy_turns_every_rule_off() -> None:
    policy = RetryPolicy(max_retries=0, rules={UpstreamUnavailable: RetryRule(max_retries=5)})
    assert _retried(policy) == []
    # RateLimitError has its own count (1) and is still switched off.
    assert policy.rule_for(RateLimitError).retry is False
    assert _retried(DEFAULT_RETRY_POLICY.disabled()) == []


def test_disabled_keeps_the_rules_so_retries_can_be_turned_back_on() -> None:
    policy = DEFAULT_RETRY_POLICY.with_rule(UpstreamUnavailable, max_retries=5)
    back = policy.disabled().replace(max_retries=3)
    assert back.rule_for(UpstreamUnavailable).max_retries == 5
    assert back.rule_for(InternalServerError).max_retries == 3
    assert back.rule_for(RateLimitError).max_retries == 1
    assert _retried(back) == _retried(DEFAULT_RETRY_POLICY)


@pytest.mark.parametrize("client_cls", [ToRouter, AsyncToRouter])
def test_client_max_retries_zero_disables_everything(client_cls: type[ToRouter]) -> None:
    client = new(client_cls, max_retries=0)
    assert client.max_retries == 0
    assert _retried(client.retry_policy) == []
    custom = DEFAULT_RETRY_POLICY.with_rule(UpstreamUnavailable, max_retries=5)
    client = new(client_cls, retry_policy=custom, max_retries=0)
    assert _retried(client.retry_policy) == []


def test_client_max_retries_sets_the_default_count() -> None:
    client = new(max_retries=5)
    assert client.max_retries == 5
    assert client.retry_policy.rule_for(UpstreamUnavailable).max_retries == 5
    assert client.retry_policy.rule_for(RateLimited).max_retries == 5
    assert client.retry_policy.rule_for(RateLimitError).max_retries == 1  # its own count
    assert client.retry_policy.rule_for(BadRequestError).retry is False


def test_with_options_max_retries_zero_and_back() -> None:
    client = new()
    off = client.with_options(max_retries=0)
    assert _retried(off.retry_policy) == []
    assert _retried(client.retry_policy) == _retried(DEFAULT_RETRY_POLICY)
    on = off.with_options(max_retries=3)
    assert on.max_retries == 3
    assert on.retry_policy.rule_for(UpstreamUnavailable).max_retries == 3
    assert _retried(on.retry_policy) == _retried(DEFAULT_RETRY_POLICY)
    # Other options keep the disabled policy.
    assert _retried(off.with_options(deadline=5).retry_policy) == []


def test_a_client_built_with_zero_can_retry_again_per_call_site() -> None:
    client = new(max_retries=0)
    assert client.with_options(max_retries=2).retry_policy.rule_for(NoEligibleChannel).retry


def test_with_options_retry_policy() -> None:
    policy = DEFAULT_RETRY_POLICY.with_rule(RateLimited, retry=False)
    client = new().with_options(retry_policy=policy)
    assert client.retry_policy is policy
    both = new().with_options(retry_policy=policy, max_retries=4)
    assert both.retry_policy.rule_for(RateLimited).retry is False
    assert both.retry_policy.rule_for(UpstreamTimeout).max_retries == 4


# --- immutability --------------------------------------------------------------------------


def test_policies_rules_and_backoffs_are_frozen() -> None:
    policy = RetryPolicy()
    with pytest.raises(dataclasses.FrozenInstanceError):
        policy.max_retries = 5  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        policy.rules = {}  # type: ignore[misc]
    with pytest.raises(TypeError):
        policy.rules[RateLimited] = RetryRule(retry=False)  # type: ignore[index]
    with pytest.raises(TypeError):
        del policy.rules[RateLimited]  # type: ignore[attr-defined]
    with pytest.raises(dataclasses.FrozenInstanceError):
        RetryRule().retry = False  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        Backoff().maximum = 1  # type: ignore[misc]
    assert policy.rule_for(RateLimited).retry is True


def test_a_rules_dict_changed_after_construction_does_not_change_the_policy() -> None:
    rules = {UpstreamTimeout: RetryRule(max_retries=6)}
    policy = RetryPolicy(rules=rules)
    rules[UpstreamTimeout] = RetryRule(retry=False)
    rules[RateLimited] = RetryRule(retry=False)
    assert policy.rule_for(UpstreamTimeout).max_retries == 6
    assert policy.rule_for(RateLimited).retry is True


def test_the_default_policy_cannot_be_changed_in_place() -> None:
    DEFAULT_RETRY_POLICY.with_rule(RateLimited, retry=False)
    _ = DEFAULT_RETRY_POLICY | {UpstreamUnavailable: RetryRule(retry=False)}
    DEFAULT_RETRY_POLICY.disabled()
    assert DEFAULT_RETRY_POLICY.rule_for(RateLimited).retry is True
    assert DEFAULT_RETRY_POLICY.rule_for(UpstreamUnavailable).retry is True
    assert DEFAULT_RETRY_POLICY.max_retries == 2


# --- validation ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "error"),
    [
        (lambda: RetryPolicy(rules={"RateLimited": RetryRule()}), TypeError),
        (lambda: RetryPolicy(rules={int: RetryRule()}), TypeError),
        (lambda: RetryPolicy(rules={RateLimited: {"retry": False}}), TypeError),
        (lambda: RetryPolicy(rules={RateLimited: False}), TypeError),
        (lambda: RetryPolicy(rules=[RateLimited]), TypeError),
        (lambda: RetryPolicy(max_retries=-1), ValueError),
        (lambda: RetryPolicy(max_retries=1.5), TypeError),
        (lambda: RetryPolicy(max_retries=True), TypeError),
        (lambda: RetryPolicy(max_retry_after=-1), ValueError),
        (lambda: RetryPolicy(max_retry_after=float("nan")), ValueError),
        (lambda: RetryPolicy(max_retry_after="60"), TypeError),
        (lambda: RetryPolicy(backoff=3), TypeError),
        (lambda: RetryRule(max_retries=-1), ValueError),
        (lambda: RetryRule(max_retries=2.0), TypeError),
        (lambda: RetryRule(max_retries="3"), TypeError),
        (lambda: RetryRule(retry="no"), TypeError),
        (lambda: RetryRule(retry=None), TypeError),
        (lambda: RetryRule(backoff=1.0), TypeError),
        (lambda: Backoff(initial=-1), ValueError),
        (lambda: Backoff(maximum=-0.1), ValueError),
        (lambda: Backoff(multiplier=0.5), ValueError),
        (lambda: Backoff(initial=float("nan")), ValueError),
        (lambda: Backoff(maximum=float("inf")), ValueError),
        (lambda: Backoff(initial="1"), TypeError),
        (lambda: Backoff(jitter="yes"), TypeError),
        (lambda: DEFAULT_RETRY_POLICY.with_rule("UpstreamUnavailable", max_retries=3), TypeError),
        (lambda: DEFAULT_RETRY_POLICY.with_rule(UpstreamUnavailable, max_retries=-3), ValueError),
        (lambda: DEFAULT_RETRY_POLICY | [(RateLimited, RetryRule())], TypeError),
        (lambda: DEFAULT_RETRY_POLICY | {RateLimited: None}, TypeError),
    ],
)
def test_bad_rules_raise(make: object, error: type[Exception]) -> None:
    with pytest.raises(error):
        make()  # type: ignore[operator]


def test_an_infinite_retry_after_cap_means_always_honour() -> None:
    assert RetryPolicy(max_retry_after=float("inf")).max_retry_after == math.inf


@pytest.mark.parametrize("bad", [{"x": 1}, "policy", 3])
def test_the_client_rejects_a_retry_policy_that_is_not_one(bad: object) -> None:
    with pytest.raises(InvalidArgumentError):
        ToRouter(api_key=KEY, retry_policy=bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", [-1, 1.5, True, "2"])
def test_the_client_rejects_a_bad_max_retries(bad: object) -> None:
    with pytest.raises(InvalidArgumentError):
        ToRouter(api_key=KEY, max_retries=bad)  # type: ignore[arg-type]


def test_policy_resolution_is_stable_across_calls() -> None:
    policy = DEFAULT_RETRY_POLICY.with_rule(UpstreamUnavailable, max_retries=5)
    first = policy.rule_for(NoEligibleChannel)
    assert policy.rule_for(NoEligibleChannel) == first
    assert policy.rule_for(APIResponseValidationError).retry is False


@pytest.mark.parametrize(
    ("make", "says"),
    [
        (lambda: Backoff(initial="1"), "Backoff.initial must be a number, not '1'"),
        (lambda: Backoff(maximum=True), "Backoff.maximum must be a number, not True"),
        (lambda: Backoff(multiplier=None), "Backoff.multiplier must be a number, not None"),
        (lambda: Backoff(initial=float("nan")), "Backoff.initial must be a finite number"),
        (lambda: Backoff(maximum=float("inf")), "Backoff.maximum must be a finite number"),
        (lambda: Backoff(jitter=1), "Backoff.jitter must be True or False"),
        (lambda: Backoff(initial=-1), "initial >= 0"),
        (lambda: Backoff(maximum=-1), "maximum >= 0"),
        (lambda: Backoff(multiplier=0.99), "multiplier >= 1"),
        (lambda: RetryPolicy(max_retry_after="60"), "max_retry_after must be a number"),
        (lambda: RetryPolicy(max_retry_after=False), "max_retry_after must be a number"),
        (lambda: RetryPolicy(max_retry_after=-0.5), "max_retry_after must be >= 0"),
        (lambda: RetryPolicy(max_retries=2.0), "RetryPolicy.max_retries must be an int"),
        (lambda: RetryPolicy(max_retries=False), "RetryPolicy.max_retries must be an int"),
        (lambda: RetryPolicy(max_retries=-1), "RetryPolicy.max_retries must be >= 0, not -1"),
        (lambda: RetryRule(max_retries=-2), "RetryRule.max_retries must be >= 0"),
        (lambda: RetryRule(retry=1), "RetryRule.retry must be True or False"),
        (lambda: RetryRule(backoff=2.0), "RetryRule.backoff must be a Backoff"),
        (lambda: RetryPolicy(backoff=2.0), "RetryPolicy.backoff must be a Backoff"),
        (lambda: RetryPolicy(rules=[]), "RetryPolicy.rules must be a mapping"),
        (lambda: RetryPolicy(rules={"X": RetryRule()}), "keyed by exception classes"),
        (lambda: RetryPolicy(rules={RateLimited: 1}), "the rule for RateLimited must be"),
    ],
)
def test_bad_values_raise_invalid_argument_saying_what_is_wrong(make: object, says: str) -> None:
    with pytest.raises(InvalidArgumentError) as info:
        make()  # type: ignore[operator]
    assert says in str(info.value)


@pytest.mark.parametrize(
    "make",
    [lambda: Backoff(initial=0, maximum=0, multiplier=1), lambda: RetryPolicy(max_retry_after=0),
     lambda: RetryPolicy(max_retries=0), lambda: RetryRule(max_retries=0),
     lambda: RetryPolicy(max_retry_after=float("inf"))],
)
def test_the_boundary_values_are_accepted(make: object) -> None:
    make()  # type: ignore[operator]


def test_the_backoff_follows_its_formula_for_any_retry_number() -> None:
    # min(maximum, initial * multiplier**(n-1)), also far beyond 64 retries ...
    slow = Backoff(initial=1.0, multiplier=1.01, maximum=100.0, jitter=False)
    assert slow.delay(100) == pytest.approx(1.01**99)
    # ... and a product too large for a float is simply the maximum (it used to raise
    # OverflowError from retry 53 on with multiplier=1e6)
    steep = Backoff(initial=0.5, multiplier=1e6, maximum=8.0, jitter=False)
    assert steep.delay(60) == 8.0 and steep.delay(10_000) == 8.0
    assert Backoff(initial=0.0, multiplier=1e6, maximum=8.0, jitter=False).delay(60) == 0.0
    assert Backoff(initial=0.5, multiplier=1e6, maximum=8.0).delay(60, lambda: 0.25) == 2.0


@pytest.mark.parametrize(
    ("obj", "field"),
    [(Backoff(), "initial"), (RetryRule(), "retry"), (DEFAULT_RETRY_POLICY, "max_retries"),
     (DEFAULT_RETRY_POLICY.rule_for(UpstreamUnavailable), "max_retries")],
)
def test_policies_rules_and_backoffs_cannot_be_changed_in_place(obj: object, field: str) -> None:
    # A policy shared by clients and threads is safe only because nothing in it can change.
    import dataclasses

    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(obj, field, 0)


def test_a_rule_retries_only_when_it_allows_at_least_one_retry() -> None:
    policy = RetryPolicy().with_rule(UpstreamUnavailable, max_retries=0)
    assert policy.rule_for(UpstreamUnavailable).retry is False
    assert policy.with_rule(UpstreamUnavailable, max_retries=1).rule_for(
        UpstreamUnavailable).retry is True
    assert RetryPolicy(max_retries=1).rule_for(UpstreamUnavailable).retry is True


def test_a_policy_leaves_an_unknown_right_operand_of_or_to_it() -> None:
    class Handles:
        def __ror__(self, other: object) -> str:
            return "handled by the right operand"

    result: object = DEFAULT_RETRY_POLICY | Handles()  # type: ignore[operator]
    assert result == "handled by the right operand"
