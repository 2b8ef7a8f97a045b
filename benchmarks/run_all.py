"""Run every benchmarks/bench_*.py in turn (`make bench`) and say which ones failed.

Each benchmark prints its own figures; this only runs them, one after the other (they measure CPU, so running
them side by side would disturb each other), and exits non-zero if any of them did.

    .venv/bin/python benchmarks/run_all.py [name-filter]
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parent
BOUND_S = 900  # no single benchmark may run longer than this


def main(argv: list[str]) -> int:
    name_filter = argv[0] if argv else ""
    scripts = sorted(path for path in BENCHMARKS.glob("bench_*.py") if name_filter in path.name)
    if not scripts:
        print(f"error: no benchmarks/bench_*.py matches {name_filter!r}", file=sys.stderr)
        return 1
    failed = []
    for script in scripts:
        print(f"== {script.name}", flush=True)
        started = time.monotonic()
        try:
            code = subprocess.run([sys.executable, str(script)], cwd=BENCHMARKS.parent, timeout=BOUND_S).returncode
        except subprocess.TimeoutExpired:
            code = "timeout"
        print(f"== {script.name}: {'ok' if code == 0 else f'FAILED ({code})'} in {time.monotonic() - started:.0f} s\n", flush=True)
        if code != 0:
            failed.append(script.name)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
