"""The records that travel the one road from input to every view: Target, Exchange, Finding, Verdict, Report.

Data only: nothing here renders (see :mod:`why403_kit.render`) or decides (see :mod:`why403_kit.runner`). The
facts of an answer (status, who answered, request id, cf-ray) travel as fields, never inside sentences that a
later stage would have to parse again; ``evidence`` is the sentence for people. Strings that came from the wire
are redacted when a record is made, and every ``to_dict`` masks its whole structure again before anything is
serialized or cut.
"""

from __future__ import annotations

import ipaddress
import json
import math
import os
import ssl
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Literal, get_args
from urllib.parse import urlsplit

from ._keys import key_control_characters
from ._secret import Secret
from .errors import InputError
from .redact import redact, redact_obj, split_userinfo

Status = Literal["pass", "warn", "fail", "skip", "error"]
STATUSES: tuple[str, ...] = get_args(Status)
CUTS = ("larger", "inflated", "undecodable", "reset", "slow")  # Exchange.cut: why a body was not read whole
OPENAI_BASE = "https://api.openai.com/v1"
PROVIDER_NAMES = {"openai": "OpenAI", "azure": "Azure OpenAI", "compatible": "OpenAI-compatible gateway"}  # Target.provider, in words
# The shape of report.json (and of `diagnose --format json`). Bump it when a field changes meaning or goes away;
# new optional fields do not need a bump. 0 is the unversioned shape of why403-kit 0.1 (no typed fields).
SCHEMA_VERSION = 1
REPORT_BODY_HEAD = 500  # characters of each answer's body kept in report.json and the support bundle
# Time limits (SECURITY.md and the README quote these; tests/test_security_docs.py checks they agree with the code).
DEFAULT_TIMEOUT = 10.0  # seconds: one request as a whole (connect, headers and body), and each network operation in it
MAX_TIMEOUT = 300.0
RUN_DEADLINE_FACTOR = 3  # the whole run's default deadline is this many request timeouts (30 s for the default 10 s)
MAX_DEADLINE = 3600.0
# Headers that carry the id support looks a request up by (providers and the hops in front of them), most specific first:
# the live HTTP helper and offline triage both read a request id from them. Names in lower case.
REQUEST_ID_HEADERS = ("x-request-id", "apim-request-id", "x-ms-request-id", "request-id")
# Variables a CA bundle is read from when none is given, in this order (SSL_CERT_FILE is what httpx and the OpenAI SDK read).
CA_BUNDLE_ENV = ("SSL_CERT_FILE", "REQUESTS_CA_BUNDLE")
# Target fields that must hold no control character (a CR or LF would split a header or a table row), with their names.
_ONE_LINE_FIELDS = {"base_url": "the base URL", "provider": "the provider", "organization": "the organization id",
                    "project": "the project id", "model": "the model", "deployment": "the deployment", "api_version": "the api-version",
                    "ip_echo_url": "the IP-echo URL", "key_env": "the key's variable name", "ca_bundle": "the CA bundle path"}


@dataclass
class Target:
    """What to diagnose. The key is held in a :class:`Secret` and never shown."""

    base_url: str = OPENAI_BASE
    api_key: Secret = field(default_factory=lambda: Secret(""))
    provider: str = ""  # openai | azure | compatible; detected from the URL when empty
    organization: str = ""
    project: str = ""
    model: str = "gpt-4o-mini"
    deployment: str = ""
    api_version: str = ""
    allowlist: list[str] = field(default_factory=list)
    ip_echo_url: str = ""
    allow_paid_probe: bool = False
    timeout: float = DEFAULT_TIMEOUT  # seconds for one request as a whole (see DEFAULT_TIMEOUT)
    pasted_request: str = field(default="", repr=False)  # a curl command, raw headers or HAR entry from the user's app
    key_hint: str = field(default="", repr=False)  # what a saved report said of its key; a target rebuilt from one holds no key
    key_env: str = ""  # the environment variable the key was read from ('' when it was given otherwise), named in advice
    deadline: float = 0.0  # seconds for the whole run; 0: RUN_DEADLINE_FACTOR times the timeout
    ca_bundle: str = ""  # a PEM file (or directory) of CAs to verify TLS with instead of the default trust store
    # 'user:…' when the base URL held user info, which was removed (an HTTP client would send it as Basic auth
    # in place of the key); the headers step reports it. Never the password.
    stripped_userinfo: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.api_key, Secret):
            self.api_key = Secret(str(self.api_key or ""))
        self.base_url = self.base_url or OPENAI_BASE
        for name, label in _ONE_LINE_FIELDS.items():
            value = getattr(self, name)
            if not isinstance(value, str):
                raise InputError(f"{label} must be text, got {type(value).__name__}")
            if name != "base_url" and (found := key_control_characters(value.strip(" "))):
                raise InputError(f"{label} holds {_listed(found)}: give it on one line, without invisible characters")
        self._check_base_url()
        self.timeout = _seconds(self.timeout, "timeout", MAX_TIMEOUT)
        self.deadline = 0.0 if self.deadline in (0, None) else _seconds(self.deadline, "deadline", MAX_DEADLINE)
        if self.ca_bundle:
            self.ca_bundle = _check_ca_bundle(self.ca_bundle)
        parts = urlsplit(self.base_url)
        assert parts.hostname  # checked above
        if not self.provider:
            host = parts.hostname.lower()
            self.provider = "azure" if host.endswith((".openai.azure.com", ".cognitiveservices.azure.com")) else (
                "openai" if host == "api.openai.com" else "compatible")
        if self.provider not in PROVIDER_NAMES:
            *first, last = PROVIDER_NAMES
            raise InputError(f"provider must be {', '.join(first)} or {last}, got {self.provider!r}")
        for entry in self.allowlist:
            try:
                ipaddress.ip_network(entry.strip(), strict=False)
            except ValueError:
                raise InputError(f"allowlist entry {redact(entry)!r} is not an IP address or CIDR") from None

    def _check_base_url(self) -> None:
        """A base URL the kit can use as given, or an InputError that says what to change. User info is removed
        (and its password masked from now on): httpx would turn it into Basic auth and drop the key."""
        if found := key_control_characters(self.base_url.strip(" ")):
            raise InputError(f"the base URL holds {_listed(found)}: give it on one line")
        self.base_url = self.base_url.strip()
        url, user, password = split_userinfo(self.base_url)
        if user or password or url != self.base_url:
            if password:
                Secret(password)  # masked everywhere from now on, in every derived form (Basic auth's base64 included)
            self.base_url = url
            self.stripped_userinfo = f"{redact(user)}:…" if password else redact(user) or "(empty)"
        try:
            parts = urlsplit(self.base_url)
        except ValueError as err:
            raise InputError(f"the base URL {redact(self.base_url)!r} cannot be read: {err}") from None
        try:
            port = parts.port
        except ValueError:
            port = 0
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise InputError(f"base URL must look like https://host/path, got {redact(self.base_url)!r}")
        if port == 0:
            raise InputError(f"the base URL's port must be a number between 1 and 65535: {redact(self.base_url)!r}")

    @property
    def run_deadline(self) -> float:
        """Seconds the whole run may take: ``deadline``, or RUN_DEADLINE_FACTOR request timeouts."""
        return self.deadline or RUN_DEADLINE_FACTOR * self.timeout

    @classmethod
    def from_env(cls, api_key_env: str = "", **overrides: Any) -> Target:
        """Build a target from the OpenAI SDK's environment variables (explicit arguments win)."""
        env = os.environ
        azure = bool(env.get("AZURE_OPENAI_ENDPOINT")) and not env.get("OPENAI_BASE_URL")
        name = api_key_env or ("AZURE_OPENAI_API_KEY" if azure else "OPENAI_API_KEY")
        values: dict[str, Any] = {
            "api_key": Secret(env.get(name, "")),
            "key_env": name,
            "base_url": env.get("OPENAI_BASE_URL") or (env["AZURE_OPENAI_ENDPOINT"].rstrip("/") + "/openai" if azure else OPENAI_BASE),
            "organization": env.get("OPENAI_ORG_ID", ""),
            "project": env.get("OPENAI_PROJECT_ID", ""),
            "api_version": env.get("OPENAI_API_VERSION", ""),
        }
        bundle = next(((n, env[n]) for n in CA_BUNDLE_ENV if env.get(n, "").strip()), None)
        if bundle is not None:
            values["ca_bundle"] = bundle[1].strip()
        given = {k: v for k, v in overrides.items() if v not in (None, "")}
        if "api_key" in given:  # the key did not come from the variable: advice must not name it
            values["key_env"] = ""
        values.update(given)
        if bundle is not None and "ca_bundle" not in given and not os.path.exists(values["ca_bundle"]):
            raise InputError(f"{bundle[0]}={values['ca_bundle']!r} names no file: fix or unset it (it is the CA bundle your client uses too)")
        return cls(**values)

    @property
    def origin(self) -> str:
        p = urlsplit(self.base_url)
        return f"{p.scheme}://{p.netloc}"

    def to_dict(self) -> dict[str, Any]:
        """The target with the key reduced to a hint: safe to print and save."""
        d = {k: v for k, v in asdict(self).items() if k not in ("api_key", "pasted_request", "key_hint")}
        d["api_key"] = self.api_key.hint if self.api_key else self.key_hint or "(none)"
        return redact_obj(d)  # type: ignore[no-any-return]

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Target:
        """A target saved with :meth:`to_dict`, for a replay that connects nowhere: no key (a saved one holds only its
        hint) and no ``ca_bundle`` (the path of a file on the machine that ran the diagnosis; checking it here would
        refuse a report read anywhere else)."""
        keep = {f.name for f in fields(cls)} - {"api_key", "pasted_request", "key_hint", "ca_bundle"}
        hint = data.get("api_key")
        return cls(**{k: v for k, v in data.items() if k in keep}, key_hint=redact(hint) if isinstance(hint, str) and hint != "(none)" else "")


@dataclass(frozen=True)
class Exchange:
    """One request the kit sent and what came back (or why nothing did). Made only by the HTTP helper.

    ``url``, ``headers``, ``body_head`` and ``error`` are redacted when the record is made; header names are
    lower case. ``body_head`` is the start of the body, at most what the helper reads (``truncated`` says the
    answer was longer). ``responder`` is who answered according to the classifier. ``error`` says why no answer
    came; an answer whose status and headers arrived keeps them, and ``cut`` says why its body is incomplete:
    ``larger`` (over the read limit), ``inflated`` (decompresses past it), ``undecodable`` (an encoding the kit
    does not decode, or corrupt), ``reset`` (the connection broke mid-body), ``slow`` (the deadline passed).
    """

    method: str
    url: str
    status: int | None
    headers: dict[str, str] = field(default_factory=dict)
    body_head: str = ""
    elapsed_ms: float = 0.0
    responder: str = "unknown"
    request_id: str = ""
    cf_ray: str = ""
    error: str | None = None
    truncated: bool = False
    utc: str = ""
    cut: str = ""  # why the body was not read whole: one of CUTS ('' when it was)
    cut_detail: str = ""  # the same in words, with sizes and times

    @property
    def whole(self) -> bool:
        """The answer arrived, and its body was read to its end."""
        return self.status is not None and not self.cut and not self.truncated

    def to_dict(self) -> dict[str, Any]:
        """The exchange as report.json holds it: the body cut to REPORT_BODY_HEAD characters (masked when the record was made)."""
        d = asdict(self)
        d["body_head"] = self.body_head[:REPORT_BODY_HEAD]
        return redact_obj(d)  # type: ignore[no-any-return]

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Exchange:
        headers = data.get("headers") or {}
        if not isinstance(headers, Mapping):
            raise InputError("not a why403 report: an exchange's headers are not an object")
        return cls(
            method=_text(data, "method"), url=redact(_text(data, "url")), status=_status(data.get("status")),
            headers={str(k).lower(): redact(str(v)) for k, v in headers.items()}, body_head=redact(_text(data, "body_head")),
            elapsed_ms=_number(data, "elapsed_ms"), responder=_text(data, "responder") or "unknown", request_id=_text(data, "request_id"),
            cf_ray=_text(data, "cf_ray"), error=redact(str(data["error"])) if data.get("error") is not None else None,
            truncated=bool(data.get("truncated")), utc=_text(data, "utc"),
            cut=_text(data, "cut") if _text(data, "cut") in CUTS else "", cut_detail=redact(_text(data, "cut_detail")),
        )


@dataclass(frozen=True)
class Finding:
    """What one check of one step found.

    ``observed`` is true when the finding reports what the network or a server did in this run (an answer, a
    refused connection, a certificate), false for a lint of the user's own input. ``http_status``, ``responder``,
    ``request_id`` and ``cf_ray`` come from the answer it read, if any; ``confidence`` is the classifier's when it
    named the cause, 1.0 for a lint that checks a fact of the input.
    """

    step: str
    check: str
    status: Status
    cause: str = ""
    evidence: str = ""
    fix: str = ""
    request_id: str = ""
    elapsed_ms: float = 0.0
    http_status: int | None = None
    responder: str = ""
    cf_ray: str = ""
    observed: bool = False
    confidence: float = 1.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "evidence", redact(self.evidence))

    def to_dict(self) -> dict[str, Any]:
        return redact_obj(asdict(self))  # type: ignore[no-any-return]

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Finding:
        status = _text(data, "status")
        if status not in STATUSES:
            raise InputError(f"not a why403 report: a finding has status {status!r}, not one of {', '.join(STATUSES)}")
        return cls(
            step=_text(data, "step"), check=_text(data, "check"), status=status,  # type: ignore[arg-type]
            cause=_text(data, "cause"), evidence=_text(data, "evidence"), fix=_text(data, "fix"), request_id=_text(data, "request_id"),
            elapsed_ms=_number(data, "elapsed_ms"), http_status=_status(data.get("http_status")), responder=_text(data, "responder"),
            cf_ray=_text(data, "cf_ray"), observed=bool(data.get("observed")), confidence=_number(data, "confidence", 1.0),
        )


@dataclass(frozen=True)
class Verdict:
    """The most likely cause, and which finding decided it (empty ``step`` when nothing did: a clean run of lints)."""

    cause: str
    summary: str
    fix: str
    title: str = ""
    confidence: float = 0.0
    step: str = ""
    check: str = ""
    http_status: int | None = None
    responder: str = ""

    def to_dict(self) -> dict[str, Any]:
        return redact_obj(asdict(self))  # type: ignore[no-any-return]

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Verdict:
        return cls(
            cause=_text(data, "cause") or "unknown", summary=_text(data, "summary"), fix=_text(data, "fix"), title=_text(data, "title"),
            confidence=_number(data, "confidence"), step=_text(data, "step"), check=_text(data, "check"),
            http_status=_status(data.get("http_status")), responder=_text(data, "responder"),
        )


@dataclass(frozen=True)
class Report:
    """Everything one diagnosis found, with its verdict; every view reads this and nothing calls the network again."""

    target: Target
    findings: tuple[Finding, ...]
    verdict: Verdict
    exchanges: tuple[Exchange, ...] = ()
    started_utc: str = ""
    elapsed_ms: float = 0.0

    @property
    def failed(self) -> bool:
        return any(f.status in ("fail", "error") for f in self.findings)

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape of ``report.json`` and ``diagnose --format json``, masked as a structure: ``schema_version``,
        ``verdict``, ``findings``, ``exchanges``, ``target`` (the key as its hint, the CA bundle as its path), ``started_utc``,
        ``elapsed_ms``."""
        return redact_obj({  # type: ignore[no-any-return]
            "schema_version": SCHEMA_VERSION,
            "verdict": self.verdict.to_dict(),
            "findings": [f.to_dict() for f in self.findings],
            "exchanges": [e.to_dict() for e in self.exchanges],
            "target": self.target.to_dict(),
            "started_utc": self.started_utc,
            "elapsed_ms": self.elapsed_ms,
        })

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Report:
        """Rebuild a report saved with :meth:`to_dict` (``report.json``); unversioned 0.1 reports read too.

        The target comes back without a key and without its CA bundle (see :meth:`Target.from_dict`): a replay connects
        nowhere. Bad input raises :class:`InputError`; a report written by a newer schema is refused rather than misread.
        """
        version = data.get("schema_version", 0)
        if not _is_int(version) or version < 0:
            raise InputError(f"not a why403 report: schema_version {version!r} is not a whole number")
        if version > SCHEMA_VERSION:
            raise InputError(f"report.json has schema_version {version}; this why403-kit reads up to {SCHEMA_VERSION}: upgrade it")
        try:
            target = Target.from_dict(_mapping(data.get("target")))
            findings = tuple(Finding.from_dict(_mapping(f)) for f in _list(data.get("findings")))
            verdict = Verdict.from_dict(_mapping(data.get("verdict")))
            exchanges = tuple(Exchange.from_dict(_mapping(e)) for e in _list(data.get("exchanges")))
        except (TypeError, AttributeError, ValueError) as err:
            raise InputError(f"not a why403 report: {err}") from None
        return cls(target, findings, verdict, exchanges, _text(data, "started_utc"), _number(data, "elapsed_ms"))

    @classmethod
    def load(cls, source: str | Path | Mapping[str, Any]) -> Report:
        """A saved report: the path of its ``report.json`` (``why403 diagnose --out``) or that file's content as a dict.

        Anything else (a missing file, not JSON, another JSON document) raises :class:`InputError`.
        """
        data: Any = source
        if isinstance(source, (str, os.PathLike)):
            try:
                data = json.loads(Path(source).read_text(encoding="utf-8"))
            except OSError as err:
                raise InputError(f"cannot read report {source}: {err.strerror}") from None
            except ValueError as err:
                raise InputError(f"cannot read report {source}: it is not JSON ({err})") from None
        if not isinstance(data, Mapping) or not isinstance(data.get("verdict"), Mapping) or not isinstance(data.get("findings"), list):
            raise InputError("not a why403 report: expected the report.json written by 'why403 diagnose --out'")
        return cls.from_dict(data)

    def to_frame(self) -> Any:
        """The findings as a pandas DataFrame, one column per field (pandas is imported only here)."""
        import pandas as pd

        return pd.DataFrame([asdict(f) for f in self.findings], columns=[f.name for f in fields(Finding)])


def request_id_of(headers: Mapping[str, str]) -> str:
    """The request id an answer carries (the first of :data:`REQUEST_ID_HEADERS` present), or ''; ``headers`` lower-cased."""
    return next((headers[h] for h in REQUEST_ID_HEADERS if headers.get(h)), "")


def _listed(found: list[str]) -> str:
    return ("a control character: " if len(found) == 1 else "control characters: ") + "; ".join(found[:3])


def _seconds(value: Any, name: str, limit: float) -> float:
    try:
        seconds = float(value)
    except (TypeError, ValueError, OverflowError):
        seconds = math.nan
    if isinstance(value, bool) or not (0 < seconds <= limit):
        raise InputError(f"{name} must be a number of seconds above 0 and at most {limit:g}, got {redact(str(value))[:40]!r}")
    return seconds


def _check_ca_bundle(path: str) -> str:
    """The path of a readable CA bundle (a PEM file or a directory of hashed certificates), or an InputError."""
    where = os.path.expanduser(path.strip())
    if not os.path.exists(where):
        raise InputError(f"CA bundle {path!r} does not exist")
    try:
        if os.path.isdir(where):
            ssl.create_default_context(capath=where)
        else:
            ctx = ssl.create_default_context(cafile=where)
            if not ctx.get_ca_certs():
                raise ssl.SSLError("no certificate in it")
    except (ssl.SSLError, OSError, ValueError) as err:
        raise InputError(f"CA bundle {path!r} cannot be used: it must hold PEM certificates ({type(err).__name__}: {err})") from None
    return where


# ---- reading untrusted dicts: a wrong type is bad input, never a traceback -------------------------------------
def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _mapping(value: object) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise TypeError(f"expected an object, got {type(value).__name__}")
    return value


def _list(value: object) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise TypeError(f"expected a list, got {type(value).__name__}")
    return value


def _text(data: Mapping[str, Any], key: str) -> str:
    value = data.get(key)
    return "" if value is None else str(value)


def _number(data: Mapping[str, Any], key: str, default: float = 0.0) -> float:
    value = data.get(key)
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        raise TypeError(f"{key} is not a number")
    return float(value)


def _status(value: object) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise TypeError("an HTTP status is not a number")
    return int(value)  # type: ignore[call-overload, no-any-return]


__all__ = ["CA_BUNDLE_ENV", "CUTS", "DEFAULT_TIMEOUT", "MAX_DEADLINE", "MAX_TIMEOUT", "OPENAI_BASE", "PROVIDER_NAMES", "REPORT_BODY_HEAD",
           "REQUEST_ID_HEADERS", "RUN_DEADLINE_FACTOR", "SCHEMA_VERSION", "STATUSES", "Exchange", "Finding", "Report", "Status",
           "Target", "Verdict", "request_id_of"]
