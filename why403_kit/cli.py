"""The `why403` command: a thin shell over the library. Exit 0 ok, 1 problem found, 2 bad input."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import textwrap
from collections.abc import Sequence
from typing import Any, NoReturn

from . import knowledge
from ._files import check_out_dir
from ._resources import write_notebooks
from ._secret import Secret
from .classify import classify
from .errors import ExportError, InputError
from .lab import LAB_KEY, NOT_PLAYED, SCENARIOS, Lab, scenario_id
from .model import DEFAULT_TIMEOUT, MAX_DEADLINE, MAX_TIMEOUT, PROVIDER_NAMES, RUN_DEADLINE_FACTOR, Report, Target
from .redact import redact
from .render import FORMATS, render, table, to_json, write_bundle
from .render.progress import bars, status_line, step_progress
from .render.text import faq_text, is_terminal, terminal_width, use_colour
from .runner import Hooks, diagnose
from .triage import ENGINE_NAMES, TriageReport

CLASSIFY_STDIN_LIMIT = 64 << 20  # bytes of JSON `why403 classify` reads from stdin; more is refused, never cut


def _cmd_diagnose(a: argparse.Namespace) -> int:
    if a.out:
        check_out_dir(a.out)  # before any probe: the run may take its whole deadline, and then could not be saved
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
        allow_paid_probe=a.allow_paid_probe, timeout=a.timeout, pasted_request=pasted, deadline=a.deadline, ca_bundle=a.ca_bundle,
    )
    if a.api_key_prompt:
        import getpass

        target.api_key = Secret(getpass.getpass("API key (hidden): "))
        target.key_env = ""
    progress = step_progress(sys.stderr, colour=use_colour(sys.stderr))  # a line per step on a terminal; nothing in a pipe
    try:
        report = diagnose(target, hooks=Hooks(progress.on_step_start, progress.on_findings) if progress else None)
    finally:
        if progress:
            progress.close()
    print(render(report, a.format))
    if a.out:
        for path in write_bundle(report, a.out):
            print(redact(f"wrote {path}"), file=sys.stderr)
    return 1 if report.failed else 0


def _cmd_classify(a: argparse.Namespace) -> int:
    """Classify one answer or a list of them; exit 0 when every one is ``ok``, 1 when any is a refusal."""
    raw = sys.stdin.buffer.read(CLASSIFY_STDIN_LIMIT + 1) if hasattr(sys.stdin, "buffer") else sys.stdin.read(CLASSIFY_STDIN_LIMIT + 1).encode()
    if len(raw) > CLASSIFY_STDIN_LIMIT:
        raise InputError(f"stdin holds more than {CLASSIFY_STDIN_LIMIT >> 20} MiB, the most 'why403 classify' reads: classify fewer answers at a time")
    if not raw.strip():
        raise InputError("stdin is empty: pipe in a JSON object {status, headers, body, exception} (see 'why403 classify --help')")
    try:
        data = json.loads(raw.decode("utf-8", "replace"))
    except RecursionError:
        raise InputError("stdin is JSON nested too deeply to read (an answer is an object, or a list of objects)") from None
    except ValueError as err:
        raise InputError(f"stdin is not JSON: {err}") from None
    items = data if isinstance(data, list) else [data]
    if not items or not all(isinstance(i, dict) for i in items):
        raise InputError("expected an object {status, headers, body, exception} or a non-empty list of them")
    for n, i in enumerate(items):
        status = i.get("status")
        if not (status is None or (isinstance(status, int) and not isinstance(status, bool)) or (isinstance(status, str) and status.strip().isdigit())):
            raise InputError(f"answer {n + 1}: status must be an HTTP status number (or null), got {redact(json.dumps(status))[:40]}")
        if not isinstance(i.get("headers") or {}, dict):
            raise InputError(f"answer {n + 1}: headers must be an object of name: value")
    found = [classify(i.get("status"), i.get("headers") or {}, i.get("body") or "", i.get("exception")) for i in items]
    out = [d.to_dict() for d in found]
    print(to_json(out if isinstance(data, list) else out[0]))
    return 0 if all(d.cause == "ok" for d in found) else 1


def _cmd_lab(a: argparse.Namespace) -> int:
    if a.list:
        kb = knowledge.load()
        rows = [[name, kb.cause_or_unknown(name).title] for name in SCENARIOS]
        print(table(rows, ["scenario", "what it plays"], long_columns={"what it plays"}))
        return 0
    if a.answer_key:
        from .lab import Classroom
        from .lab._classroom import MAX_ANSWER_KEY

        if not 1 <= a.count <= MAX_ANSWER_KEY:
            raise InputError(f"--count must be from 1 to {MAX_ANSWER_KEY}")
        with Lab(port=a.port) as quiet_lab:
            path = Classroom(quiet_lab, a.seed).write_answer_key(a.answer_key, a.count)
        print(redact(f"wrote the answer key for seed {a.seed} ({a.count} mysteries) to {path}: for the trainer only"))
        return 0
    lab = Lab(a.scenario, port=a.port, latency_ms=a.latency_ms)  # LabError (bad input, exit 2) for an unknown scenario or a busy port
    print(lab_banner(lab), flush=True)
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C is how a lab is meant to stop
        lab.serve_forever()
    return 0


def lab_banner(lab: Lab) -> str:
    """What `why403 lab` prints: where each scenario answers, both listeners, and that any key works."""
    lines = [f"lab serving scenario {lab.scenario!r} at {lab.base_url}",
             f"  other scenarios: {lab.origin}/s/<scenario>/v1   (why403 lab --list)",
             f"  TLS listener: {lab.tls_origin}/v1 plays tls_interception (its certificate's issuer is in no CA bundle, as a re-signing "
             "proxy's)",
             f"  IP echo: {lab.ip_echo_url}",
             "  any key works: the lab never checks a key's value, only whether and how one is sent, e.g.",
             f"  OPENAI_API_KEY={LAB_KEY} why403 diagnose --base-url {lab.base_url}",
             "  Ctrl-C stops it."]
    return "\n".join(lines)


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
    # The scenario is the cause it plays: the verdict needs a column only where it differs.
    shown = [[name, "yes" if right == "yes" else f"NO: {verdict}", fix] for name, verdict, right, fix in rows]
    print(table(shown, ["scenario", "diagnosed", "fix"], colour=use_colour(), under="fix"))
    print(f"\n{sum(r[2] == 'yes' for r in rows)}/{len(rows)} scenarios diagnosed to their cause.")
    print(textwrap.fill("Not played: " + "; ".join(f"{k} ({v})" for k, v in NOT_PLAYED.items()) + ".", terminal_width()))
    return 0 if all(r[2] == "yes" for r in rows) else 1


def _cmd_notebooks(a: argparse.Namespace) -> int:
    """Copy the shipped notebooks into a directory (kept when they exist, unless --force) and say how to open them."""
    for path, what in write_notebooks(a.out, force=a.force):
        print(redact(f"{what} {path}"))  # paths are what the user typed: masked like everything else printed
    print(redact(f"open them with: jupyter lab {a.out}"), file=sys.stderr)
    return 0


def _cmd_export(a: argparse.Namespace) -> int:
    """Write the runbook or the FAQ as one self-contained HTML page and print its path."""
    from .export import export_faq, export_runbook

    progress = status_line(sys.stderr)  # a status line on a terminal; nothing in a pipe or a log
    try:
        if a.document == "faq":
            if a.report or a.notebook:
                raise InputError("--report and --notebook apply to 'export runbook' only")
            path = export_faq(a.out, progress=progress)
        else:
            path = export_runbook(a.out, report=a.report or None, notebook=a.notebook or None, scenario=a.scenario, progress=progress)
    finally:
        if progress is not None:
            progress.close()
    print(redact(str(path)))
    return 0


def _cmd_triage(a: argparse.Namespace) -> int:
    """Group the refusals in logs of any size by cause; exit 1 when there is any, 2 for input that is not a log."""
    from .render.triage import plot_path
    from .triage import FieldMap, triage_files

    if not [f for f in a.files if f.strip()]:
        raise InputError("no file given")
    if a.plot:
        plot_path(a.plot)  # before the log is read: a place the plot cannot go is bad input, said at once
    fields = FieldMap.parse(a.field or [], a.fields_file)
    report = triage_files(a.files, stdin=sys.stdin.buffer, engine=a.engine, fields=fields, max_events=a.max_events,
                          per_event=a.per_event, progress=bars(sys.stderr, force=a.progress))
    print(render(report, a.format))
    if a.plot:
        from .render import triage_plot

        triage_plot(report, a.plot)
        print(f"wrote {a.plot}", file=sys.stderr)
    if a.per_event:
        print(f"wrote {a.per_event}", file=sys.stderr)
    return 1 if report.refusals else 0


class _Parser(argparse.ArgumentParser):
    """argparse, with its errors said in one masked line (exit 2) instead of a usage block that echoes what was typed."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"why403: {_one_line(redact(message))} (see '{self.prog} --help')\n")

    def _print_message(self, message: str, file: Any = None) -> None:
        super()._print_message(redact(message), file)


def _command(sub: Any, name: str, summary: str, description: str = "") -> argparse.ArgumentParser:
    """A subcommand whose own --help opens with what it does (argparse shows ``help`` only in the parent's list)."""
    parser: argparse.ArgumentParser = sub.add_parser(name, help=summary, description=description or summary[:1].upper() + summary[1:] + ".")
    return parser


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="why403", description="Find out why an OpenAI / Azure OpenAI / gateway call is refused.")
    sub = p.add_subparsers(dest="command", required=True)
    d = _command(sub, "diagnose", "run the six steps live against a target")
    d.add_argument("--base-url", help="API base URL (default: $OPENAI_BASE_URL or https://api.openai.com/v1)")
    d.add_argument("--provider", choices=list(PROVIDER_NAMES), help="detected from the URL when omitted")
    d.add_argument("--api-key-env", help="environment variable holding the key (default OPENAI_API_KEY)")
    d.add_argument("--api-key-prompt", action="store_true", help="ask for the key at a hidden prompt instead of reading the environment")
    d.add_argument("--org", help="OpenAI-Organization id (default $OPENAI_ORG_ID)")
    d.add_argument("--project", help="OpenAI-Project id (default $OPENAI_PROJECT_ID)")
    d.add_argument("--model", default="gpt-4o-mini", help="model whose access step 3 checks (default gpt-4o-mini)")
    d.add_argument("--deployment", help="Azure deployment name")
    d.add_argument("--api-version", help="Azure api-version (default $OPENAI_API_VERSION)")
    d.add_argument("--allowlist", help="expected allowlist: IPs and CIDRs, comma separated")
    d.add_argument("--ip-echo-url", help="URL that echoes your public IP (never sent the key)")
    d.add_argument("--allow-paid-probe", action="store_true", help="allow one request that may spend a token")
    d.add_argument("--request-file", help="lint a request your app sends: a file with a curl command, raw headers or a HAR entry ('-' = stdin)")
    d.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT,
                   help=f"seconds one request may take as a whole, headers and body (default {DEFAULT_TIMEOUT:g}, at most {MAX_TIMEOUT:g})")
    d.add_argument("--deadline", type=float, default=0.0,
                   help=f"seconds the whole run may take (default {RUN_DEADLINE_FACTOR} times --timeout, at most {MAX_DEADLINE:g})")
    d.add_argument("--ca-bundle", help="PEM file of CAs to verify TLS with, e.g. your proxy's root (default $SSL_CERT_FILE, "
                   "$REQUESTS_CA_BUNDLE, else the usual trust store)")
    d.add_argument("--format", choices=FORMATS.names(Report), default="table", help="what stdout gets (default table)")
    d.add_argument("--out", help="directory for report.json and the support bundle")
    d.set_defaults(func=_cmd_diagnose)
    c = _command(sub, "classify", "classify {status, headers, body, exception} JSON read from stdin",
                 "Name the cause of one refusal you already have, offline: a JSON object {status, headers, body, exception} "
                 "on stdin (leave out what you do not have), or a list of them. Prints the cause, evidence and fix as JSON; "
                 "exit 0 when every answer is ok, 1 when one is a refusal, 2 for bad input. Example: "
                 "echo '{\"status\": 403, \"body\": \"<title>Just a moment...</title>\"}' | why403 classify")
    c.set_defaults(func=_cmd_classify)
    lab = _command(sub, "lab", "serve the training lab on loopback")
    lab.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: a free one)")
    lab.add_argument("--scenario", default="ok", type=scenario_id, help="a cause id (see --list); 'healthy' is read as 'ok'")
    lab.add_argument("--latency-ms", type=float, default=0.0, help="delay every answer by this many milliseconds")
    lab.add_argument("--list", action="store_true", help="list the scenarios")
    lab.add_argument("--answer-key", metavar="FILE", help="trainers: write the answer key of a class's mysteries (.md, .csv or .json) and exit")
    lab.add_argument("--seed", type=int, default=2026, help="with --answer-key: the class's seed (the notebook's class_seed)")
    lab.add_argument("--count", type=int, default=20, help="with --answer-key: how many mysteries (default 20)")
    lab.set_defaults(func=_cmd_lab)
    demo = _command(sub, "demo", "start the lab and diagnose every scenario")
    demo.set_defaults(func=_cmd_demo)
    nb = _command(sub, "notebooks", "write the notebooks into a directory (then: jupyter lab DIR)")
    nb.add_argument("--out", required=True, help="directory to write the notebooks into (created when missing)")
    nb.add_argument("--force", action="store_true", help="overwrite notebooks that already exist there")
    nb.set_defaults(func=_cmd_notebooks)
    ex = _command(sub, "export", "write the runbook or the FAQ as one self-contained HTML page (opens offline)")
    ex.add_argument("document", choices=["runbook", "faq"])
    ex.add_argument("--out", required=True, help="directory to write runbook.html or faq.html into")
    ex.add_argument("--report", help="runbook: replay this report.json (why403 diagnose --out) instead of running the lab")
    ex.add_argument("--scenario", default="edge_block", help="runbook: lab scenario to run the runbook against (default edge_block)")
    ex.add_argument("--notebook", help="runbook: the runbook notebook (default: the one shipped with why403-kit)")
    ex.set_defaults(func=_cmd_export)
    tr = _command(sub, "triage", "group the refusals in logs of any size by cause (offline: HAR, JSON Lines, CSV, Parquet, logs)")
    tr.add_argument("files", nargs="+", metavar="FILE",
                    help="HAR, JSON Lines, JSON array, CSV, Parquet or log file, .gz/.zst too; a glob or a directory; '-' = stdin")
    tr.add_argument("--format", choices=FORMATS.names(TriageReport), default="table", help="what stdout gets (default table)")
    tr.add_argument("--engine", choices=ENGINE_NAMES, default="auto",
                    help="auto: DuckDB for JSON Lines/CSV/Parquet files, the streaming reader otherwise; spark: $WHY403_SPARK_MASTER or local[*]")
    tr.add_argument("--field", action="append", metavar="NAME=PATH",
                    help="where a field sits, e.g. status=response.status, body=response.body (repeatable); or a preset: litellm, openai")
    tr.add_argument("--fields-file", metavar="FILE", help="a TOML or JSON file of NAME = \"dotted.path\"")
    tr.add_argument("--max-events", type=int, metavar="N", help="read at most N records (default: everything)")
    tr.add_argument("--per-event", metavar="FILE", help="write each event's cause to FILE.parquet or FILE.csv (for joining back)")
    tr.add_argument("--plot", metavar="FILE", help="draw the causes over time to FILE.svg or FILE.png")
    tr.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                    help="a progress bar on stderr (default: when stderr is a terminal)")
    tr.set_defaults(func=_cmd_triage)
    faq = _command(sub, "faq", "print the FAQ from the knowledge base")
    faq.set_defaults(func=lambda a: print(faq_text()) or 0)
    return p


def _one_line(message: str) -> str:
    """A message on one line whatever the user typed into it: control characters shown as escapes (a CR would
    rewrite the line on a terminal, an LF split it)."""
    return "".join(repr(c)[1:-1] if (ord(c) < 32 or 0x7F <= ord(c) < 0xA0 or c in "\u2028\u2029") else c for c in message)


def _prepare_streams() -> None:
    """Pipes and files are read and written as UTF-8 (JSON is UTF-8); a terminal keeps its encoding but never fails
    on a character."""
    import io

    for stream in (sys.stdin, sys.stdout, sys.stderr):
        if not isinstance(stream, io.TextIOWrapper):  # replaced (pytest's capture, Jupyter): leave it alone
            continue
        with contextlib.suppress(OSError, ValueError):
            if is_terminal(stream):
                stream.reconfigure(errors="replace")
            else:
                stream.reconfigure(encoding="utf-8", errors="replace")


def main(argv: Sequence[str] | None = None) -> int:
    _prepare_streams()
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        result: Any = args.func(args)
        sys.stdout.flush()
        return int(result or 0)
    except InputError as err:
        print(f"why403: {_one_line(str(err))}", file=sys.stderr)
        return 2
    except ExportError as err:
        print(f"why403: {_one_line(str(err))}", file=sys.stderr)
        return 1
    except SystemExit as err:  # argparse errors
        return int(err.code or 0) if isinstance(err.code, int) else 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `why403 … | head`: the reader left; say nothing more, and no traceback at exit
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


if __name__ == "__main__":
    raise SystemExit(main())
