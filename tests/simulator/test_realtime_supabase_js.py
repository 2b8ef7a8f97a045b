"""supabase-js's own `channel(...).on('postgres_changes', ...)` receives a job's updates from the simulator.

Node and the npm registry are needed: the test installs @supabase/supabase-js (latest 2.x) and ws into a temporary
folder once per session, and skips with one line when npm is not there or the install fails.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.simulator.conftest import PASSWORD, PUBLISHABLE_KEY

pytestmark = pytest.mark.integration

SCRIPT = Path(__file__).with_name("node") / "follow_job.mjs"


@pytest.fixture(scope="session")
def node_project(tmp_path_factory) -> Path:
    if not shutil.which("node") or not shutil.which("npm"):
        pytest.skip("node/npm not installed: supabase-js cannot be run")
    folder = tmp_path_factory.mktemp("supabase-js")
    (folder / "package.json").write_text('{"name": "sim-realtime-check", "private": true, "type": "module"}')
    try:
        subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--silent", "@supabase/supabase-js@2", "ws@8"],
                       cwd=folder, check=True, capture_output=True, timeout=240)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as error:
        pytest.skip(f"npm install @supabase/supabase-js failed: {str(error)[:200]}")
    shutil.copy(SCRIPT, folder / SCRIPT.name)
    return folder


# "1.0.0" is what ProspectPro's pinned supabase-js (Oct 2025) speaks; "default" is today's (2.0.0, arrays).
@pytest.mark.parametrize("vsn", ["1.0.0", "default"])
def test_supabase_js_subscription_receives_the_jobs_updates_until_completed(node_project, simulator, vsn):
    completed = subprocess.run(["node", SCRIPT.name, simulator.url, PUBLISHABLE_KEY, "loadtest-8@prospectpro.test",
                                PASSWORD, vsn], cwd=node_project, capture_output=True, text=True, timeout=60)  # fmt: skip
    assert completed.returncode == 0, completed.stderr[-2000:]
    result = json.loads(completed.stdout.strip().splitlines()[-1])
    assert result["error"] is None, result
    assert result["subscribed"] is True
    assert result["statuses"][-1] == "completed" and result["progress"][-1] == 100
    assert len(result["statuses"]) >= 3  # processing, scoring, per-lead progress, completed
    served = simulator.stats()["served"]
    assert served["WS /realtime/v1/websocket"] == {"101": 1}
    assert served["WS postgres_changes"] == {"ok": len(result["statuses"])}
