"""Sign-out as a shared session allows: scope local, once per session, by the last virtual user holding it."""

from __future__ import annotations

import pytest

from tests.support.locust_runs import clean_environment, recorded_per_simulator_key, run_locust, served_per_key

pytestmark = pytest.mark.integration

SIGN_OUT = "POST /auth/v1/logout?scope=local"


def test_each_shared_session_is_signed_out_once_at_the_end_and_no_other_user_breaks(simulator, tmp_path):
    # Five journeys on two test accounts: two or three virtual users share each session, as tabs do.
    run = run_locust(simulator.url, tmp_path / "run", "ProspectorUser", users=5, seconds=6,
                     env=clean_environment(PP_TEST_USERS="loadtest-{1..2}@prospectpro.test"))
    assert run.returncode == 0, run.output[-3000:]
    entries = run.entries()
    assert entries["POST /auth/v1/token?grant_type=password"]["num_requests"] == 2
    assert entries[SIGN_OUT]["num_requests"] == 2  # one per session, not one per virtual user
    assert sum(row["num_failures"] for row in entries.values()) == 0, run.failure_rows()
    assert recorded_per_simulator_key(run) == served_per_key(simulator.stats())
