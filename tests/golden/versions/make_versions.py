"""Make the multi-version golden files ONCE: real headless runs of other Locust versions against tiny_server.py.

    python tests/golden/versions/make_versions.py VENV_BIN VERSION [--steps]

VENV_BIN is the bin folder of a throwaway virtual environment with that Locust installed
(``python3.11 -m venv /tmp/l2.8.6 && /tmp/l2.8.6/bin/pip install locust==2.8.6``). The files land in
tests/golden/versions/<VERSION>[-steps]/ with command.txt saying exactly what made them (the port is the only
thing that differs between runs). Not run by the tests: the tests read the committed files.
"""

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from tiny_server import serving  # noqa: E402


def main() -> None:
    venv_bin, version = Path(sys.argv[1]).absolute(), sys.argv[2]
    steps = "--steps" in sys.argv[3:]
    out = HERE / (version + ("-steps" if steps else ""))
    out.mkdir(exist_ok=True)
    help_text = subprocess.run([str(venv_bin / "locust"), "-f", str(HERE / "versions_locustfile.py"), "--help"],
                               capture_output=True, text=True, cwd="/tmp").stdout
    with serving() as server:
        command = [str(venv_bin / "locust"), "-f", str(HERE / "versions_locustfile.py"), "--headless",
                   "--host", server.url, "--csv", "locust", "--csv-full-history", "--only-summary"]
        if not steps:
            command += ["-u", "4", "-r", "4", "-t", "12s"]  # over 10 s: Locust 1.6-2.2x flush the history file only every 10 s
        json_mode = "--json-file" if "--json-file" in help_text else ("--json" if "--json" in help_text else None)
        if json_mode == "--json-file":
            command += ["--json-file", "locust"]
        elif json_mode == "--json":
            command += ["--json"]
        env = {"PATH": "/usr/bin:/bin", "VERSIONS_SHAPE": "steps" if steps else ""}
        done = subprocess.run(command, cwd=out, env=env, capture_output=True, text=True, timeout=120)
    if json_mode == "--json":
        (out / "locust.json").write_text(done.stdout)
    shown = " ".join(part.replace(str(venv_bin), "$VENV/bin").replace(str(HERE), "tests/golden/versions")
                     .replace(server.url, "http://127.0.0.1:PORT") for part in command)
    if json_mode == "--json":
        shown += " > locust.json"
    (out / "command.txt").write_text(
        f"locust {version} (Python {sys.version.split()[0]}), exit code {done.returncode}\n"
        f"cd tests/golden/versions/{out.name} && {'VERSIONS_SHAPE=steps ' if steps else ''}{shown}\n")
    print(out, "exit", done.returncode)
    print(done.stderr[-1500:])


if __name__ == "__main__":
    main()
