"""The `atlas-mcp` command: serve MCP (stdio by default), run the simulator, the demo, doctor.

Logging goes to stderr only (stdout carries JSON-RPC on stdio), through a filter that
blanks the API key should any library ever log it.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from atlas_mcp_py import __version__
from atlas_mcp_py.config import Settings
from atlas_mcp_py.errors import ConfigError, LedgerError, is_broken_pipe

__all__ = [
    "EXIT_OUTPUT_CLOSED",
    "main",
]


MAX_LOG_MESSAGE_CHARS = 2000
"""A log message longer than this (a 100 KB resource URI a client sent) is cut."""


class RedactingFilter(logging.Filter):
    """Replaces secrets in every record that passes through a handler, and cuts a
    message longer than MAX_LOG_MESSAGE_CHARS (the SDK logs request values whole)."""

    def __init__(self, secrets: Sequence[str]) -> None:
        super().__init__()
        self._secrets = [s for s in secrets if s]

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        clean = message
        for secret in self._secrets:
            clean = clean.replace(secret, "[redacted]")
            if record.exc_text:
                record.exc_text = record.exc_text.replace(secret, "[redacted]")
        if len(clean) > MAX_LOG_MESSAGE_CHARS:
            cut = MAX_LOG_MESSAGE_CHARS - 40
            clean = f"{clean[:cut]}… ({len(clean)} characters, cut)"
        if clean != message:
            record.msg, record.args = clean, None
        return True


def setup_logging(settings: Settings) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    secrets = [s.get_secret_value() for s in (settings.api_key, settings.http_token) if s]
    handler.addFilter(RedactingFilter(secrets))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level)
    if settings.log_level != "DEBUG":  # per-request lines from the HTTP stack are noise
        for name in ("httpx2", "httpcore2", "httpx", "httpcore"):
            logging.getLogger(name).setLevel(logging.WARNING)


def _port(text: str) -> int:
    port = int(text) if text.isdigit() else -1
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number (0-65535)")
    return port


def _parser() -> argparse.ArgumentParser:
    """The command line: every subcommand and option."""
    parser = argparse.ArgumentParser(
        prog="atlas-mcp",
        description="MCP server for Atlas Cloud video generation. No command: serve over stdio.",
    )
    parser.add_argument("--version", action="version", version=f"atlas-mcp {__version__}")
    sub = parser.add_subparsers(dest="command")
    _add_serve(sub.add_parser("serve", help="serve MCP (stdio, or streamable HTTP)"))
    sim = sub.add_parser("simulator", help="run the bundled Atlas API simulator on 127.0.0.1")
    sim.add_argument("--port", type=int, default=9100)
    sim.add_argument("--host", default="127.0.0.1")
    sim.add_argument("--job-seconds", type=float, help="time every job takes (default: per model)")
    _add_demo(
        sub.add_parser(
            "demo",
            help="the whole flow as an IDE sees it, against the bundled simulator (no key)",
            description="Start the bundled Atlas simulator, launch atlas-mcp over stdio as an "
            "IDE does, upload an image, generate a video with a progress bar, save it. No key, "
            "no network, nothing billed, unless --live.",
        )
    )
    sub.add_parser(
        "doctor",
        help="check key, API, roots, ledger; print the client config for this machine",
        description="Check that this installation is ready for an IDE; print the config to "
        "paste. Exit code 0 when every required check passes, 1 otherwise.",
    )
    _team_commands(sub)
    return parser


def _team_commands(sub: Any) -> None:
    """`token add` and `ledger migrate` (running a team server), added to `sub`, the
    parser's subcommands."""
    token = sub.add_parser("token", help="HTTP users: add a token to the tokens file")
    token_sub = token.add_subparsers(dest="token_command", required=True)
    add = token_sub.add_parser(
        "add",
        help="make a token for user NAME: printed once, its SHA-256 appended to the file",
    )
    add.add_argument("name", metavar="NAME")
    add.add_argument(
        "--file", type=Path, help="the tokens file (default: ATLAS_MCP_HTTP_TOKENS_FILE)"
    )
    ledger = sub.add_parser("ledger", help="the job ledger: move it into PostgreSQL")
    ledger_sub = ledger.add_subparsers(dest="ledger_command", required=True)
    migrate = ledger_sub.add_parser(
        "migrate",
        help="copy a SQLite ledger into PostgreSQL (safe to run again)",
    )
    migrate.add_argument(
        "--from",
        dest="source",
        type=Path,
        help="the SQLite ledger (default: jobs.sqlite3 in ATLAS_MCP_STATE_DIR)",
    )
    migrate.add_argument(
        "--to", dest="target", help="postgresql:// URL (default: ATLAS_MCP_DATABASE_URL)"
    )


def _run_team_command(args: argparse.Namespace, settings: Settings) -> int:
    """`token add NAME` or `ledger migrate`; exit code 2 with the reason on failure."""
    from atlas_mcp_py.jobs import migrate_to_postgres, shown_location
    from atlas_mcp_py.server import add_token

    try:
        if args.command == "token":
            path = args.file or settings.http_tokens_file
            if path is None:
                raise ConfigError("set ATLAS_MCP_HTTP_TOKENS_FILE or pass --file")
            token = add_token(path, args.name)
            print(f"atlas-mcp: added user {args.name} to {path}", file=sys.stderr)
            print(token)
            return 0
        url = args.target or (settings.database_url and settings.database_url.get_secret_value())
        if not url:
            raise ConfigError("set ATLAS_MCP_DATABASE_URL or pass --to postgresql://...")
        source = args.source or settings.resolved_state_dir / "jobs.sqlite3"
        copied, skipped, total = migrate_to_postgres(source, url)
    except (ConfigError, LedgerError) as exc:
        print(f"atlas-mcp: {exc}", file=sys.stderr)
        return 2
    print(
        f"copied {copied} jobs from {source} to {shown_location(url)} "
        f"({skipped} already there; {total} in PostgreSQL now)"
    )
    return 0


def _add_serve(serve: argparse.ArgumentParser) -> None:
    """`atlas-mcp serve`: the transport and the HTTP transport's flags."""
    serve.add_argument(
        "--transport",
        choices=["stdio", "http"],
        default="stdio",
        help="stdio (what IDEs launch) or streamable HTTP at /mcp",
    )
    http = serve.add_argument_group("http transport (flags override the environment)")
    http.add_argument("--host", help="address to bind (default 127.0.0.1)")
    http.add_argument("--port", type=_port, help="port to listen on (default 8765)")
    http.add_argument(
        "--token",
        help="bearer token clients must send (prefer ATLAS_MCP_HTTP_TOKEN: flags show in ps)",
    )
    http.add_argument(
        "--allowed-host",
        action="append",
        metavar="HOST",
        help="extra Host header to accept, e.g. mcp.example.com (repeatable)",
    )
    http.add_argument(
        "--allowed-origin",
        action="append",
        metavar="ORIGIN",
        help="extra browser Origin to accept, e.g. https://app.example.com (repeatable)",
    )


def _add_demo(demo: argparse.ArgumentParser) -> None:
    """`atlas-mcp demo`: what the video shows, from which frame, where it goes, live or not."""
    demo.add_argument("--prompt", help="what the video shows (default: a turning product shot)")
    demo.add_argument(
        "--image", type=Path, help="your own first frame (PNG, JPEG, WebP...; default: bundled)"
    )
    demo.add_argument(
        "--save-to",
        type=Path,
        metavar="PATH",
        help="file (must not exist) or directory for the video "
        "(default: ./atlas-demo.mp4, replaced on each run)",
    )
    demo.add_argument(
        "--live",
        action="store_true",
        help="use the real Atlas API with ATLASCLOUD_API_KEY: makes one billed video",
    )
    demo.add_argument("--yes", action="store_true", help="with --live: do not ask to confirm")
    demo.add_argument(
        "--from-text",
        nargs="?",
        const="",
        metavar="STILL_PROMPT",
        help="no image: generate the first frame from text, then animate it "
        "(optional: what the still shows)",
    )
    demo.add_argument(
        "--job-seconds", type=float, default=6.0, help="how long the simulator's job runs"
    )


def _skip_sdk_logging_setup() -> None:
    """Keep `rich` out of the server's start-up.

    `MCPServer()` calls the SDK's `configure_logging`, which imports rich whenever it is
    installed (it is: the demo draws its progress bar with it) to build a handler that
    `logging.basicConfig` then ignores, because `setup_logging` already put ours (stderr,
    redacting) on the root logger. Skipping the call changes nothing but the ~30 ms import;
    tests/e2e/test_first_run.py checks that a served process never loads rich.
    """
    from mcp.server.mcpserver import server as sdk_server

    sdk_server.configure_logging = _no_sdk_logging  # type: ignore[attr-defined]


def _no_sdk_logging(level: str = "INFO") -> None:
    """Stands in for the SDK's `configure_logging`: our logging is already set up."""


def _print_now(line: str) -> None:
    """One line to stdout at once: a pipe's reader sees each check as it ends."""
    print(line, flush=True)


def _http_overrides(args: argparse.Namespace) -> dict[str, object]:
    """Settings given as `serve` flags (None: not given, the environment decides)."""

    def split(values: list[str] | None) -> tuple[str, ...] | None:
        return tuple(v for item in values for v in item.split(",")) if values else None

    return {
        "http_token": getattr(args, "token", None),
        "allowed_hosts": split(getattr(args, "allowed_host", None)),
        "allowed_origins": split(getattr(args, "allowed_origin", None)),
    }


EXIT_OUTPUT_CLOSED = 141
"""The exit status when stdout's reader went away (`atlas-mcp doctor | head -1`): 128 +
SIGPIPE, what a shell reports for a program that signal ended, as `yes | head -1` does."""


def _output_closed() -> int:
    """End quietly: no traceback, and nothing left for the interpreter to flush at exit
    into the closed pipe (which would print "Exception ignored ... BrokenPipeError")."""
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    return EXIT_OUTPUT_CLOSED


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; when stdout's reader goes away, stop quietly with 141."""
    try:
        try:
            return _main(argv)
        finally:  # an error writing the last lines surfaces here, not at interpreter exit
            sys.stdout.flush()
    except BaseException as exc:
        if is_broken_pipe(exc):
            return _output_closed()
        raise


def _main(argv: Sequence[str] | None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command == "doctor":  # before the settings: it reports a bad one as a check
        from atlas_mcp_py.doctor import run_doctor

        return run_doctor(_print_now)
    http_flags = ("host", "port", "token", "allowed_host", "allowed_origin")
    stdio = args.command == "serve" and args.transport == "stdio"
    if stdio and any(getattr(args, name) is not None for name in http_flags):
        parser.error("--host, --port, --token and --allowed-* need --transport http")
    try:
        settings = Settings.from_env(None, **_http_overrides(args))
    except ConfigError as exc:
        print(f"atlas-mcp: {exc}", file=sys.stderr)
        return 2
    setup_logging(settings)
    command = args.command or "serve"
    if command in ("token", "ledger"):
        return _run_team_command(args, settings)
    if command == "simulator":
        from atlas_mcp_py.simulator import run_simulator

        run_simulator(args.host, args.port, job_seconds=args.job_seconds)
        return 0
    if command == "demo":
        from atlas_mcp_py.demo import DEFAULT_PROMPT, DEFAULT_STILL_PROMPT, DemoOptions, run_demo

        options = DemoOptions(
            prompt=DEFAULT_PROMPT if args.prompt is None else args.prompt,
            image=args.image,
            save_to=args.save_to,
            live=args.live,
            yes=args.yes,
            job_seconds=args.job_seconds,
            from_text=None if args.from_text is None else args.from_text or DEFAULT_STILL_PROMPT,
        )
        return run_demo(options)
    _skip_sdk_logging_setup()
    if command == "serve" and getattr(args, "transport", "stdio") == "http":
        from atlas_mcp_py.server import HttpOptions, serve_http

        try:
            return serve_http(settings, HttpOptions.from_flags(args.host, args.port))
        except ConfigError as exc:
            print(f"atlas-mcp: {exc}", file=sys.stderr)
            return 2
    import anyio

    from atlas_mcp_py.server import build_server, serve_stdio

    anyio.run(serve_stdio, build_server(settings))
    return 0


if __name__ == "__main__":
    sys.exit(main())
