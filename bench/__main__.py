"""`python -m bench`: run every benchmark against the bundled simulator, print a table,
write the figures and the machine to a JSON file.

    .venv/bin/python -m bench                  # everything (a few minutes)
    .venv/bin/python -m bench --quick          # fewer repetitions, smaller files
    .venv/bin/python -m bench --only startup --only calls
    .venv/bin/python -m bench --markdown bench/results.json   # the table for the README
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from bench.common import Measurement, machine

# Module names under bench/, in the order they run.
BENCHES = [
    "startup",
    "first_call",
    "calls",
    "latency",
    "concurrency",
    "upload",
    "ledger_bench",
    "sessions",
    "replicas",
]
DEFAULT_OUT = Path(__file__).resolve().parent / "results.json"


def _fmt(value: float, unit: str) -> str:
    if unit in ("bytes", "tokens", "polls", "calls", "jobs", "rows", "connections"):
        return f"{value:,.0f} {unit}"
    if abs(value) >= 100:
        return f"{value:,.0f} {unit}"
    return f"{value:.3g} {unit}"


def table(results: list[Measurement]) -> str:
    rows = [("bench", "measure", "value", "target", "met")]
    for m in results:
        met = "" if m.ok is None else ("yes" if m.ok else "NO")
        rows.append((m.bench, m.name, _fmt(m.value, m.unit), m.target or "", met))
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    lines = ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)) for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def markdown(report: dict[str, Any]) -> str:
    """The figures of a results file as a Markdown table, headed by the machine."""
    m = report["machine"]
    lines = [
        f"Measured {m['date']} on {m['cores']} cores ({m['cpu']}), {m['memory_gib']} GiB, "
        f"Python {m['python']}, mcp {m['mcp']}, commit {m['commit']}"
        + (" (--quick)" if report.get("quick") else "")
        + ":",
        "",
        "| bench | measure | value | target | met |",
        "|---|---|---|---|---|",
    ]
    for r in report["results"]:
        met = "" if r["ok"] is None else ("yes" if r["ok"] else "**no**")
        value = _fmt(r["value"], r["unit"])
        lines.append(f"| {r['bench']} | {r['name']} | {value} | {r['target'] or ''} | {met} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions, smaller inputs")
    parser.add_argument(
        "--only", action="append", metavar="NAME", help=f"run only these ({', '.join(BENCHES)})"
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="JSON file to write")
    parser.add_argument(
        "--markdown",
        type=Path,
        metavar="JSON",
        help="print an earlier results file as a Markdown table (runs nothing)",
    )
    args = parser.parse_args(argv)
    if args.markdown:
        print(markdown(json.loads(args.markdown.read_text())))
        return 0
    chosen = args.only or BENCHES
    unknown = [name for name in chosen if name not in BENCHES]
    if unknown:
        parser.error(f"unknown benchmark {', '.join(unknown)}; choose from {', '.join(BENCHES)}")
    results: list[Measurement] = []
    failures: dict[str, str] = {}
    timings: dict[str, float] = {}
    for name in chosen:
        print(f"== {name}", file=sys.stderr, flush=True)
        started = time.perf_counter()
        try:
            module = importlib.import_module(f"bench.{name}")
            results.extend(module.run(args.quick))
        except Exception:  # noqa: BLE001 -- one broken bench must not hide the others' figures
            failures[name] = traceback.format_exc()
            print(failures[name], file=sys.stderr)
        timings[name] = round(time.perf_counter() - started, 1)
    report: dict[str, Any] = {
        "machine": machine(),
        "quick": args.quick,
        "seconds_per_bench": timings,
        "results": [m.as_dict() for m in results],
        "failures": failures,
    }
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(table(results))
    print(f"\nwritten to {args.out}; {sum(timings.values()):.0f} s in all", file=sys.stderr)
    missed = [m for m in results if m.ok is False]
    return 1 if failures or missed else 0


if __name__ == "__main__":
    sys.exit(main())
