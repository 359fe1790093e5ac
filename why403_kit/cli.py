"""The `why403` command: a thin shell over the library. Exit 0 ok, 1 problem found, 2 bad input."""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from collections.abc import Sequence
from typing import Any

from . import knowledge
from ._secret import Secret
from .classify import classify
from .errors import ExportError, InputError
from .lab import NOT_PLAYED, SCENARIOS, Lab, scenario_id
from .model import Report, Target
from .redact import redact
from .render import FORMATS, render, table, to_json, write_bundle
from .runner import diagnose


def _cmd_diagnose(a: argparse.Namespace) -> int:
    allow = [c for c in (a.allowlist or "").split(",") if c.strip()]
    pasted = ""
    if a.request_file:
        try:
            if a.request_file == "-":
                pasted = sys.stdin.read(1 << 20)
            else:
                with open(a.request_file, encoding="utf-8", errors="replace") as fh:
                    pasted = fh.read(1 << 20)
        except OSError as err:
            raise InputError(f"cannot read --request-file: {err.strerror}") from None
    target = Target.from_env(
        api_key_env=a.api_key_env or "", base_url=a.base_url, provider=a.provider, organization=a.org, project=a.project,
        model=a.model, deployment=a.deployment, api_version=a.api_version, allowlist=allow, ip_echo_url=a.ip_echo_url,
        allow_paid_probe=a.allow_paid_probe, timeout=a.timeout, pasted_request=pasted,
    )
    if a.api_key_prompt:
        import getpass

        target.api_key = Secret(getpass.getpass("API key (hidden): "))
    report = diagnose(target)
    print(render(report, a.format))
    if a.out:
        for path in write_bundle(report, a.out):
            print(f"wrote {path}", file=sys.stderr)
    return 1 if report.failed else 0


def _cmd_classify(a: argparse.Namespace) -> int:
    raw = sys.stdin.read(16 << 20)
    try:
        data = json.loads(raw)
    except ValueError as err:
        raise InputError(f"stdin is not JSON: {err}") from None
    items = data if isinstance(data, list) else [data]
    if not all(isinstance(i, dict) for i in items):
        raise InputError("expected an object {status, headers, body, exception} or a list of them")
    out = [classify(i.get("status"), i.get("headers") or {}, i.get("body") or "", i.get("exception")).to_dict() for i in items]
    print(to_json(out if isinstance(data, list) else out[0]))
    return 0


def _cmd_lab(a: argparse.Namespace) -> int:
    if a.list:
        for name in SCENARIOS:
            print(name)
        return 0
    lab = Lab(a.scenario, port=a.port, latency_ms=a.latency_ms)  # LabError (bad input, exit 2) for an unknown scenario or a busy port
    print(f"lab serving scenario {lab.scenario!r} at {lab.base_url} (other scenarios: {lab.origin}/s/<scenario>/v1; IP echo {lab.ip_echo_url})", flush=True)
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C is how a lab is meant to stop
        lab.serve_forever()
    return 0


def demo_rows(lab: Lab) -> list[list[str]]:
    """Diagnose every lab scenario (its id is the cause it plays); one row per scenario: verdict, right?, fix."""
    rows = []
    for name in SCENARIOS:
        report = diagnose(lab.target(name))
        rows.append([name, report.verdict.cause, "yes" if report.verdict.cause == name else "NO", report.verdict.fix])
    return rows


def _cmd_demo(a: argparse.Namespace) -> int:
    with Lab() as lab:
        rows = demo_rows(lab)
    print(table(rows, ["scenario", "verdict", "right?", "fix"]))
    print(f"\n{sum(r[2] == 'yes' for r in rows)}/{len(rows)} scenarios diagnosed to their cause. Not played: "
          + "; ".join(f"{k} ({v})" for k, v in NOT_PLAYED.items()))
    return 0 if all(r[2] == "yes" for r in rows) else 1


def _cmd_export(a: argparse.Namespace) -> int:
    """Write the runbook or the FAQ as one self-contained HTML page and print its path."""
    from .export import export_faq, export_runbook

    if a.document == "faq":
        if a.report or a.notebook:
            raise InputError("--report and --notebook apply to 'export runbook' only")
        path = export_faq(a.out)
    else:
        path = export_runbook(a.out, report=a.report or None, notebook=a.notebook or None, scenario=a.scenario)
    print(path)
    return 0


def _cmd_triage(a: argparse.Namespace) -> int:
    """Group the refusals in a HAR, JSON Lines or log file by cause; exit 1 when there is any."""
    import io
    from pathlib import Path

    from .triage import triage

    if not a.file.strip():
        raise InputError("no file given")
    report = triage(io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8", errors="replace") if a.file == "-" else Path(a.file))
    if a.format == "json":
        print(redact(json.dumps(report.to_dict(), indent=2)))
    elif a.format == "markdown":
        print(redact(report.to_markdown()))
    else:
        rows = [[g.cause, str(g.count), f"{g.share:.0%}", g.first_seen, g.last_seen, ",".join(map(str, g.statuses)), g.example, g.fix]
                for g in report.groups]
        head = (f"{report.refusals} refusal(s), {report.ok} ok, {report.skipped} skipped (format {report.format}"
                + (", stopped at the limit" if report.truncated else "") + ")")
        print(redact(head + ("\n\n" + table(rows, ["cause", "count", "share", "first seen", "last seen", "status", "example", "fix"]) if rows else "")))
    return 1 if report.refusals else 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="why403", description="Find out why an OpenAI / Azure OpenAI / gateway call is refused.")
    sub = p.add_subparsers(dest="command", required=True)
    d = sub.add_parser("diagnose", help="run the six steps live against a target")
    d.add_argument("--base-url", help="API base URL (default: $OPENAI_BASE_URL or https://api.openai.com/v1)")
    d.add_argument("--provider", choices=["openai", "azure", "compatible"], help="detected from the URL when omitted")
    d.add_argument("--api-key-env", help="environment variable holding the key (default OPENAI_API_KEY)")
    d.add_argument("--api-key-prompt", action="store_true", help="ask for the key at a hidden prompt instead of reading the environment")
    d.add_argument("--org", help="OpenAI-Organization id (default $OPENAI_ORG_ID)")
    d.add_argument("--project", help="OpenAI-Project id (default $OPENAI_PROJECT_ID)")
    d.add_argument("--model", default="gpt-4o-mini")
    d.add_argument("--deployment", help="Azure deployment name")
    d.add_argument("--api-version", help="Azure api-version (default $OPENAI_API_VERSION)")
    d.add_argument("--allowlist", help="expected allowlist: IPs and CIDRs, comma separated")
    d.add_argument("--ip-echo-url", help="URL that echoes your public IP (never sent the key)")
    d.add_argument("--allow-paid-probe", action="store_true", help="allow one request that may spend a token")
    d.add_argument("--request-file", help="lint a request your app sends: a file with a curl command, raw headers or a HAR entry ('-' = stdin)")
    d.add_argument("--timeout", type=float, default=10.0, help="per-request timeout in seconds")
    d.add_argument("--format", choices=FORMATS.names(Report), default="table")
    d.add_argument("--out", help="directory for report.json and the support bundle")
    d.set_defaults(func=_cmd_diagnose)
    c = sub.add_parser("classify", help="classify {status, headers, body, exception} JSON read from stdin")
    c.set_defaults(func=_cmd_classify)
    lab = sub.add_parser("lab", help="serve the training lab on loopback")
    lab.add_argument("--port", type=int, default=0)
    lab.add_argument("--scenario", default="ok", type=scenario_id, help="a cause id (see --list); 'healthy' is read as 'ok'")
    lab.add_argument("--latency-ms", type=float, default=0.0)
    lab.add_argument("--list", action="store_true", help="list the scenarios")
    lab.set_defaults(func=_cmd_lab)
    demo = sub.add_parser("demo", help="start the lab and diagnose every scenario")
    demo.set_defaults(func=_cmd_demo)
    ex = sub.add_parser("export", help="write the runbook or the FAQ as one self-contained HTML page (opens offline)")
    ex.add_argument("document", choices=["runbook", "faq"])
    ex.add_argument("--out", required=True, help="directory to write runbook.html or faq.html into")
    ex.add_argument("--report", help="runbook: replay this report.json (why403 diagnose --out) instead of running the lab")
    ex.add_argument("--scenario", default="edge_block", help="runbook: lab scenario to run the runbook against (default edge_block)")
    ex.add_argument("--notebook", help="runbook: the runbook notebook (default notebooks/02_runbook.ipynb)")
    ex.set_defaults(func=_cmd_export)
    tr = sub.add_parser("triage", help="group the refusals in a HAR, JSON Lines or log file by cause (offline)")
    tr.add_argument("file", help="HAR, JSON Lines, JSON array or log file ('-' = stdin)")
    tr.add_argument("--format", choices=["table", "json", "markdown"], default="table")
    tr.set_defaults(func=_cmd_triage)
    faq = sub.add_parser("faq", help="print the FAQ from the knowledge base")
    faq.set_defaults(func=lambda a: print("\n\n".join(f"Q: {f.q}\nA: {f.a}" for f in knowledge.load().faq)) or 0)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        result: Any = args.func(args)
        return int(result or 0)
    except InputError as err:
        print(f"why403: {err}", file=sys.stderr)
        return 2
    except ExportError as err:
        print(f"why403: {err}", file=sys.stderr)
        return 1
    except SystemExit as err:  # argparse errors
        return int(err.code or 0) if isinstance(err.code, int) else 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
