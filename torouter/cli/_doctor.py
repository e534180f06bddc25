"""``torouter doctor``: walk the checklist for a key that stopped working, say what to fix.

The checks, in order (a check whose premise failed is skipped, with the reason)::

    key          present and well-formed: sk- prefix, no whitespace
    base_url     parses: http(s), a host, no query string
    dns          the host resolves (socket.getaddrinfo)
    tcp          the host accepts a TCP connection
    tls          https only: handshake and certificate, with the SDK's trust store
    key_accepted GET /models with the key
    model        the model is allowed for this key (a minimal chat)
    billing      spend cap, balance, plan window, subscription (the chat's typed error)
    rate_limit   request-rate limits (the chat's typed error)
    answer       the model answered (upstream / gateway failures)

A failed check prints the typed error, its hint as the next step and its doc link; ``doctor``
exits with the exit code of the first failed check (0 when none failed).
"""

from __future__ import annotations

import argparse
import ipaddress
import socket
import ssl
import threading
import time
import urllib.request
from dataclasses import asdict, dataclass
from typing import Any

from .._errors import (
    DOCS,
    APIConnectionError,
    ApiKeyRequired,
    BadRequestError,
    BillingError,
    InternalServerError,
    InvalidApiKey,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ToRouterError,
    UpstreamTimeout,
    UpstreamUnavailable,
    mask_key,
)
from ._config import Settings
from ._output import Exit, Output, cli_hint, describe, error_info, exit_code_for

__all__ = ["Check", "Doctor", "run"]

_CONN_DOC = APIConnectionError.default_doc_url


@dataclass
class Check:
    """One line of the report."""

    name: str
    title: str
    status: str = "skip"  # "pass" | "fail" | "skip"
    detail: str = ""
    next_step: str | None = None
    doc_url: str | None = None
    exit_code: int = 0
    elapsed_ms: float | None = None
    error: dict[str, Any] | None = None

    def ok(self, detail: str) -> None:
        self.status, self.detail = "pass", detail

    def skip(self, reason: str) -> None:
        self.status, self.detail = "skip", reason

    def fail(self, detail: str, next_step: str | None, doc_url: str | None, code: int) -> None:
        self.status, self.detail = "fail", detail
        self.next_step, self.doc_url, self.exit_code = next_step, doc_url, int(code)

    def fail_with(self, err: ToRouterError, next_step: str | None = None) -> None:
        self.fail(describe(err), next_step or _hint(err), err.doc_url, exit_code_for(err))
        self.error = error_info(err)


def _hint(err: ToRouterError | type[ToRouterError]) -> str | None:
    """The hint in command-line wording (no "run doctor": this is doctor)."""
    return cli_hint(err, suggest_doctor=False)


_TITLES = {
    "key": "API key present and well-formed",
    "base_url": "base URL is valid",
    "dns": "DNS resolves the host",
    "tcp": "TCP connection to the host",
    "tls": "TLS handshake and certificate",
    "key_accepted": "key accepted (GET /models)",
    "model": "model allowed for this key",
    "billing": "quota, balance and plan window",
    "rate_limit": "rate limits",
    "answer": "model answered (minimal chat)",
}


def _ms(start: float) -> float:
    return round((time.perf_counter() - start) * 1000, 1)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _proxy_for(scheme: str, host: str) -> str | None:
    """The proxy httpx would use for this URL (from *_PROXY variables), credentials removed."""
    proxies = urllib.request.getproxies_environment()
    proxy = proxies.get(scheme) or proxies.get("all")
    if not proxy or urllib.request.proxy_bypass(host):
        return None
    try:
        import httpx

        url = httpx.URL(proxy)
        return f"{url.scheme}://{url.host}" + (f":{url.port}" if url.port else "")
    except Exception:
        return "(unparsable proxy URL)"


def _resolve(host: str, port: int, timeout: float) -> list[str]:
    """getaddrinfo with a time limit (the lookup runs in a daemon thread)."""
    result: list[Any] = []

    def work() -> None:
        try:
            result.append(socket.getaddrinfo(host, port, type=socket.SOCK_STREAM))
        except Exception as exc:
            result.append(exc)

    thread = threading.Thread(target=work, daemon=True, name="torouter-doctor-dns")
    thread.start()
    thread.join(timeout)
    if not result:
        raise TimeoutError(f"no DNS answer within {timeout:g}s")
    if isinstance(result[0], BaseException):
        raise result[0]
    addresses: list[str] = []
    for info in result[0]:
        addr = str(info[4][0])
        if addr not in addresses:
            addresses.append(addr)
    return addresses


class Doctor:
    """Runs the checks for one key, base URL and model."""

    def __init__(self, settings: Settings, model: str) -> None:
        self.settings = settings
        self.model = model
        self.checks = {name: Check(name, title) for name, title in _TITLES.items()}
        timeout = settings.timeout
        self.connect_timeout = min(timeout, 5.0) if timeout is not None else 5.0
        self.key: str | None = None
        self.host = ""
        self.port = 0
        self.scheme = ""
        self.listed: bool | None = None
        self.model_ids: list[str] = []

    def run(self) -> list[Check]:
        c = self.checks
        self.check_key(c["key"])
        reachable = self.check_base_url(c["base_url"])
        if reachable:
            reachable = self.check_network(c["dns"], c["tcp"], c["tls"])
        else:
            for name in ("dns", "tcp", "tls"):
                c[name].skip("no valid base URL")
        chat_checks = [c[n] for n in ("model", "billing", "rate_limit", "answer")]
        if self.key is None:
            for check in [c["key_accepted"], *chat_checks]:
                check.skip("no usable API key (see the first check)")
        elif not reachable:
            for check in [c["key_accepted"], *chat_checks]:
                check.skip("the gateway is not reachable (see above)")
        elif self.check_key_accepted(c["key_accepted"]):
            self.check_chat(*chat_checks)
        else:
            for check in chat_checks:
                check.skip("the key was not accepted")
        return list(c.values())

    # -- local checks ---------------------------------------------------------------------

    def check_key(self, check: Check) -> None:
        start = time.perf_counter()
        raw = self.settings.api_key
        source = self.settings.api_key_source
        if raw is None or not raw.strip():
            what = ("no API key: neither --api-key nor TOROUTER_API_KEY is set" if raw is None
                    else f"the key from {source} is empty")
            check.fail(what, _hint(ApiKeyRequired), ApiKeyRequired.default_doc_url,
                       Exit.AUTH)
            return
        key = raw.strip()
        masked = mask_key(key)
        inner = [i for i, ch in enumerate(key) if ch.isspace()]
        problems: list[str] = []
        if inner:
            problems.append(f"contains whitespace at character {inner[0] + 1} (a line break "
                            "from copy-paste?)")
        else:
            self.key = key
        if raw != key:
            problems.append("has leading or trailing whitespace (torouter strips it; curl and "
                            "other SDKs send it as is)")
        if not key.startswith("sk-"):
            problems.append("does not start with 'sk-' as ToRouter keys do (a key of another "
                            "provider, or only part of the key?)")
        check.elapsed_ms = _ms(start)
        if problems:
            check.fail(f"the key {masked} from {source} " + "; ".join(problems),
                       "Copy the whole key again as a single line. " + (_hint(InvalidApiKey)
                                                                        or ""),
                       InvalidApiKey.default_doc_url, Exit.AUTH)
        else:
            check.ok(f"{masked} from {source}: sk- prefix, {len(key)} characters, no whitespace")

    def check_base_url(self, check: Check) -> bool:
        import httpx

        url_text = self.settings.base_url
        source = self.settings.base_url_source
        fix = (f"Set --base-url or TOROUTER_BASE_URL to the gateway's API root, e.g. "
               f"https://portal.torouter.ai/v1 (now {url_text!r} from {source}).")
        try:
            url = httpx.URL(url_text)
        except (httpx.InvalidURL, TypeError) as exc:
            check.fail(f"cannot parse {url_text!r}: {exc}", fix, DOCS, Exit.USAGE)
            return False
        if url.scheme not in ("http", "https") or not url.host:
            check.fail(f"{url_text!r} is not an http(s) URL with a host", fix, DOCS, Exit.USAGE)
            return False
        if url.query or url.fragment:
            check.fail(f"{url_text!r} has a query or fragment", fix, DOCS, Exit.USAGE)
            return False
        self.scheme, self.host = url.scheme, url.host
        self.port = url.port or (443 if url.scheme == "https" else 80)
        detail = f"{url_text} (from {source})"
        path = url.path.rstrip("/")
        if path not in ("/v1", "/api/v1"):
            detail += f"; note: the path is {path or '/'!r}, the gateway's API root is /v1"
        check.ok(detail)
        return True

    # -- network checks -------------------------------------------------------------------

    def check_network(self, dns: Check, tcp: Check, tls: Check) -> bool:
        proxy = _proxy_for(self.scheme, self.host)
        if proxy is not None:
            reason = (f"requests go through the proxy {proxy} (from the *_PROXY environment); "
                      "the HTTP checks below test the whole path")
            for check in (dns, tcp, tls):
                check.skip(reason)
            return True
        hostport = f"{self.host}:{self.port}"
        start = time.perf_counter()
        try:
            addresses = _resolve(self.host, self.port, self.connect_timeout)
        except (OSError, TimeoutError) as exc:
            dns.elapsed_ms = _ms(start)
            dns.fail(f"cannot resolve {self.host!r}: {exc}",
                     "Check the host name in the base URL for typos, and that DNS works from "
                     "this machine (VPN, /etc/hosts, resolv.conf).", _CONN_DOC, Exit.CONNECTION)
            tcp.skip("the host did not resolve")
            tls.skip("the host did not resolve")
            return False
        dns.elapsed_ms = _ms(start)
        dns.ok(f"{self.host} -> {', '.join(addresses[:4])}")

        start = time.perf_counter()
        try:
            sock = socket.create_connection((self.host, self.port), timeout=self.connect_timeout)
        except OSError as exc:
            tcp.elapsed_ms = _ms(start)
            if isinstance(exc, ConnectionRefusedError):
                what = f"connection refused: nothing listens on {hostport}"
                step = ("Check the port in the base URL and that the gateway (or your local "
                        "proxy) is running.")
            elif isinstance(exc, TimeoutError | socket.timeout):
                what = f"no answer from {hostport} within {self.connect_timeout:g}s"
                step = ("A firewall may drop the traffic: check outbound access to this host "
                        "and port (or set HTTPS_PROXY).")
            else:
                what = f"cannot connect to {hostport}: {exc}"
                step = "Check network access to the host (routing, firewall, VPN)."
            tcp.fail(what, step, _CONN_DOC, Exit.CONNECTION)
            tls.skip("no TCP connection")
            return False
        tcp.elapsed_ms = _ms(start)
        tcp.ok(f"connected to {hostport} in {tcp.elapsed_ms:g} ms")
        with sock:
            if self.scheme != "https":
                warn = "" if _is_loopback(self.host) else (
                    "; the key travels unencrypted, use an https:// base URL")
                tls.skip(f"plain http, no TLS{warn}")
                return True
            return self._check_tls(tls, sock)

    def _check_tls(self, tls: Check, sock: socket.socket) -> bool:
        import httpx

        start = time.perf_counter()
        ctx = httpx.create_ssl_context()  # the SDK's trust store (certifi, or SSL_CERT_FILE)
        try:
            with ctx.wrap_socket(sock, server_hostname=self.host) as tsock:
                version = tsock.version()
                cert = tsock.getpeercert() or {}
        except ssl.SSLCertVerificationError as exc:
            tls.elapsed_ms = _ms(start)
            tls.fail(f"certificate rejected: {exc.verify_message or exc}",
                     "If a corporate proxy inspects TLS, point SSL_CERT_FILE at its CA bundle; "
                     "check the system clock; otherwise this host is not the gateway.",
                     _CONN_DOC, Exit.CONNECTION)
            return False
        except (ssl.SSLError, OSError) as exc:
            tls.elapsed_ms = _ms(start)
            tls.fail(f"TLS handshake failed: {exc}",
                     "Check that the port speaks TLS (http:// vs https:// in the base URL).",
                     _CONN_DOC, Exit.CONNECTION)
            return False
        tls.elapsed_ms = _ms(start)
        detail = f"{version}, certificate verified for {self.host}"
        not_after = cert.get("notAfter")
        if isinstance(not_after, str):
            days = (ssl.cert_time_to_seconds(not_after) - time.time()) / 86400
            detail += f", valid until {not_after} ({days:.0f} days)"
        tls.ok(detail)
        return True

    # -- gateway checks -------------------------------------------------------------------

    def check_key_accepted(self, check: Check) -> bool:
        start = time.perf_counter()
        try:
            with self.settings.client() as client:
                models = client.models.list()
        except ToRouterError as err:
            check.elapsed_ms = _ms(start)
            step = None
            if isinstance(err, NotFoundError):
                step = ("GET /models is not found: the base URL must be the API root "
                        "(ending in /v1), e.g. https://portal.torouter.ai/v1.")
            check.fail_with(err, step)
            return False
        check.elapsed_ms = _ms(start)
        self.model_ids = models.ids()
        self.listed = self.model in models
        listed = "listed" if self.listed else "NOT listed"
        check.ok(f"{len(models)} models, {self.model} {listed} (request_id {models.request_id})")
        return True

    def _model_by_list(self, model: Check, reason: str) -> None:
        if self.listed:
            model.ok(f"{self.model} is listed by GET /models (the chat stopped earlier: {reason})")
        else:
            model.skip(f"not confirmed: {reason}")

    def check_chat(self, model: Check, billing: Check, rate: Check, answer: Check) -> None:
        retried_before = len(self.settings.retried)
        start = time.perf_counter()
        try:
            with self.settings.client() as client:
                reply = client.chat.completions.create(
                    model=self.model, messages=[{"role": "user", "content": "ping"}]
                )
        except ToRouterError as err:
            elapsed = _ms(start)
            self._interpret(err, model, billing, rate, answer)
            for check in (model, billing, rate, answer):
                if check.status == "fail":
                    check.elapsed_ms = elapsed
            return
        elapsed = _ms(start)
        rid = reply.request_id
        retried = [r["class"] for r in self.settings.retried[retried_before:]]
        model.ok(f"{self.model} accepted the request (request_id {rid})")
        billing.ok("the request was admitted and billed: no spend cap, balance, plan window or "
                   "subscription blocks this key")
        rate_limited = [c for c in retried if "Rate" in c]
        if rate_limited:
            rate.ok(f"passed after {len(rate_limited)} rate-limited attempts: close to a limit")
        else:
            rate.ok("not rate limited")
        after = f" after {len(retried)} retries ({', '.join(retried)})" if retried else ""
        content = reply.choices[0].message.content if reply.choices else None
        answer.elapsed_ms = elapsed
        answer.ok(f"{reply.model or self.model} answered {content!r} in {elapsed:g} ms{after}")

    def _interpret(self, err: ToRouterError, model: Check, billing: Check, rate: Check,
                   answer: Check) -> None:
        name = type(err).__name__
        if isinstance(err, PermissionDeniedError | NotFoundError | BadRequestError):
            step = None
            if isinstance(err, NotFoundError | BadRequestError) and self.model_ids:
                shown = ", ".join(self.model_ids[:8])
                more = ", ..." if len(self.model_ids) > 8 else ""
                step = (f"Use a model this key may call (torouter models): {shown}{more}. "
                        + (_hint(err) or ""))
            model.fail_with(err, step)
            for check in (billing, rate, answer):
                check.skip(f"not reached: the model was refused ({name})")
        elif isinstance(err, BillingError):
            self._model_by_list(model, name)
            billing.fail_with(err)
            rate.skip(f"not reached: {name}")
            answer.skip(f"not reached: {name}")
        elif isinstance(err, RateLimitError):
            self._model_by_list(model, name)
            billing.skip(f"not confirmed: the request-rate limit answered first ({name})")
            rate.fail_with(err)
            answer.skip(f"not reached: {name}")
        elif isinstance(err, UpstreamUnavailable | UpstreamTimeout):
            # The gateway checks key, model and limits before calling the upstream.
            admitted = f"admitted by the gateway (then the upstream failed: {name})"
            model.ok(f"{self.model} {admitted}")
            billing.ok(admitted)
            rate.ok(admitted)
            answer.fail_with(err)
        else:
            reason = f"the chat failed with {name}"
            self._model_by_list(model, reason)
            billing.skip(f"not confirmed: {reason}")
            rate.skip(f"not confirmed: {reason}")
            step = None
            if isinstance(err, InternalServerError):
                step = _hint(err)
            answer.fail_with(err, step)


def run(args: argparse.Namespace, out: Output) -> int:
    settings = Settings.from_args(args, out)
    model: str = args.model
    doctor = Doctor(settings, model)
    checks = doctor.run()
    failed = [c for c in checks if c.status == "fail"]
    code = failed[0].exit_code if failed else int(Exit.OK)
    if out.json_mode:
        out.emit({
            "ok": not failed,
            "command": "doctor",
            "base_url": settings.base_url,
            "base_url_source": settings.base_url_source,
            "api_key": settings.masked_key,
            "api_key_source": settings.api_key_source,
            "model": model,
            "checks": [asdict(c) for c in checks],
            "failed": [c.name for c in failed],
            "exit_code": code,
        })
        return code
    key = settings.masked_key or "(none)"
    out.line(f"torouter doctor: {settings.base_url} ({settings.base_url_source}), key {key} "
             f"({settings.api_key_source or 'not set'}), model {model}")
    out.line("")
    width = max(len(c.title) for c in checks)
    for c in checks:
        out.line(f"{c.status.upper():4}  {c.title.ljust(width)}  {c.detail}")
        pad = " " * 6
        if c.next_step:
            out.line(f"{pad}next step: {c.next_step}")
        if c.doc_url:
            out.line(f"{pad}docs: {c.doc_url}")
    out.line("")
    if failed:
        names = ", ".join(c.title for c in failed)
        plural = "check" if len(failed) == 1 else "checks"
        out.line(f"{len(failed)} {plural} failed: {names}. Fix the first one, then run "
                 f"`torouter doctor` again (exit code {code}).")
    else:
        skipped = sum(c.status == "skip" for c in checks)
        out.line("All checks passed" + (f" ({skipped} skipped)." if skipped else "."))
    return code
