"""Target, Finding and Report: the one road the data travels from input to every view."""

from __future__ import annotations

import ipaddress
import os
from dataclasses import asdict, dataclass, field
from typing import Any, Literal
from urllib.parse import urlsplit

from ._secret import Secret
from .errors import InputError
from .redact import redact, redact_obj

Status = Literal["pass", "warn", "fail", "skip", "error"]
OPENAI_BASE = "https://api.openai.com/v1"


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
    timeout: float = 10.0
    pasted_request: str = field(default="", repr=False)  # a curl command, raw headers or HAR entry from the user's app

    def __post_init__(self) -> None:
        if not isinstance(self.api_key, Secret):
            self.api_key = Secret(str(self.api_key or ""))
        self.base_url = (self.base_url or OPENAI_BASE).strip()
        parts = urlsplit(self.base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise InputError(f"base URL must look like https://host/path, got {redact(self.base_url)!r}")
        if not self.provider:
            host = parts.hostname.lower()
            self.provider = "azure" if host.endswith((".openai.azure.com", ".cognitiveservices.azure.com")) else (
                "openai" if host == "api.openai.com" else "compatible")
        if self.provider not in ("openai", "azure", "compatible"):
            raise InputError(f"provider must be openai, azure or compatible, got {self.provider!r}")
        for entry in self.allowlist:
            try:
                ipaddress.ip_network(entry.strip(), strict=False)
            except ValueError:
                raise InputError(f"allowlist entry {redact(entry)!r} is not an IP address or CIDR") from None
        if not (0 < float(self.timeout) <= 300):
            raise InputError("timeout must be between 0 and 300 seconds")

    @classmethod
    def from_env(cls, api_key_env: str = "", **overrides: Any) -> Target:
        """Build a target from the OpenAI SDK's environment variables (explicit arguments win)."""
        env = os.environ
        azure = bool(env.get("AZURE_OPENAI_ENDPOINT")) and not env.get("OPENAI_BASE_URL")
        name = api_key_env or ("AZURE_OPENAI_API_KEY" if azure else "OPENAI_API_KEY")
        values: dict[str, Any] = {
            "api_key": Secret(env.get(name, "")),
            "base_url": env.get("OPENAI_BASE_URL") or (env["AZURE_OPENAI_ENDPOINT"].rstrip("/") + "/openai" if azure else OPENAI_BASE),
            "organization": env.get("OPENAI_ORG_ID", ""),
            "project": env.get("OPENAI_PROJECT_ID", ""),
            "api_version": env.get("OPENAI_API_VERSION", ""),
        }
        values.update({k: v for k, v in overrides.items() if v not in (None, "")})
        return cls(**values)

    @property
    def origin(self) -> str:
        p = urlsplit(self.base_url)
        return f"{p.scheme}://{p.netloc}"

    def to_dict(self) -> dict[str, Any]:
        """The target with the key reduced to a hint: safe to print and save."""
        d = {k: v for k, v in asdict(self).items() if k not in ("api_key", "pasted_request")}
        d["api_key"] = self.api_key.hint if self.api_key else "(none)"
        return redact_obj(d)  # type: ignore[no-any-return]


@dataclass
class Finding:
    step: str
    check: str
    status: Status
    cause: str = ""
    evidence: str = ""
    fix: str = ""
    request_id: str = ""
    elapsed_ms: float = 0.0

    def __post_init__(self) -> None:
        self.evidence = redact(self.evidence)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Verdict:
    cause: str
    summary: str
    fix: str
    title: str = ""
    confidence: float = 0.0


@dataclass
class Report:
    target: Target
    findings: list[Finding]
    verdict: Verdict
    exchanges: list[dict[str, Any]] = field(default_factory=list)
    started_utc: str = ""
    elapsed_ms: float = 0.0

    @property
    def failed(self) -> bool:
        return any(f.status in ("fail", "error") for f in self.findings)

    def to_dict(self) -> dict[str, Any]:
        return redact_obj({  # type: ignore[no-any-return]
            "verdict": asdict(self.verdict),
            "findings": [f.to_dict() for f in self.findings],
            "target": self.target.to_dict(),
            "started_utc": self.started_utc,
            "elapsed_ms": self.elapsed_ms,
        })

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Report:
        """Rebuild a report saved with :meth:`to_dict` (e.g. ``report.json``); it never holds a key."""
        try:
            t = dict(data.get("target") or {})
            target = Target(**{k: v for k, v in t.items() if k in Target.__dataclass_fields__ and k not in ("api_key", "pasted_request")})
            findings = [Finding(**{k: v for k, v in f.items() if k in Finding.__dataclass_fields__}) for f in data.get("findings") or []]
            verdict = Verdict(**{k: v for k, v in (data.get("verdict") or {}).items() if k in Verdict.__dataclass_fields__})
        except (TypeError, AttributeError, ValueError) as err:
            raise InputError(f"not a why403 report: {err}") from None
        return cls(target, findings, verdict, [], str(data.get("started_utc", "")), float(data.get("elapsed_ms") or 0.0))

    def to_markdown(self) -> str:
        """Verdict, fix and the findings table as Markdown (CLI output and support bundle)."""
        v = self.verdict
        lines = [f"## Verdict: `{v.cause}`", "", v.summary, "", f"**Fix:** {v.fix}", "",
                 "| step | check | status | cause | evidence | request id |", "|---|---|---|---|---|---|"]
        lines += [f"| {f.step} | {f.check} | {f.status} | {f.cause} | {f.evidence.replace('|', '/')} | {f.request_id} |" for f in self.findings]
        return redact("\n".join(lines))

    def to_frame(self) -> Any:
        """The findings as a pandas DataFrame (pandas is imported only here)."""
        import pandas as pd

        return pd.DataFrame([f.to_dict() for f in self.findings], columns=list(Finding.__dataclass_fields__))
