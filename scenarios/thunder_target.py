"""What the Thunder Client checks need to know about ProspectPro, for the launcher (harness/__main__.py).

harness/thunder_cli.py runs any Thunder collection and knows no product; this module says how ProspectPro's
settings fill the variables the team's collections use, which of them name the target (an --env file must not
redirect the checks to another host, such as the production URL in the team's thunder-environment.json), where
ProspectPro's responses report a call's cost (the monitor's spend guard), and it applies the same guards as a load
run: a target scenarios.guards refuses gets no request, and the spend ceiling is the one scenarios.guards decides.
"""

from __future__ import annotations

from analysis.errors import InputError
from harness.thunder_cli import HealthTarget
from scenarios.guards import TargetRefused, check_target
from scenarios.settings import HarnessSettings
from scenarios.guards import decide_ceiling

# The variables that name the target: SUPABASE_URL in the team's collections, baseUrl in the runbook's snippet.
TARGET_VARIABLES = ("SUPABASE_URL", "baseUrl")
# Where responses say what the call cost: the optimized discovery's costs.totalCost, the orchestrator's totalCost,
# Hunter.io's and NeverBounce's cost (reference §3.3, §3.5, §3.6). Google Places spend of a background discovery is
# never returned (reference §7.2): the monitor cannot count it.
COST_FIELDS = ("$.costs.totalCost", "$.totalCost", "$.cost")
SECRET_VARIABLES = ("SUPABASE_ANON_KEY", "TEST_USER_PASSWORD", "SUPABASE_SESSION_JWT", "SUPABASE_SESSION_JWT_ALT_USER", "jwt")


def health_target(url: str, settings: HarnessSettings) -> HealthTarget:
    """The target for health, monitor and the perf pre-flight, after the guards: InputError when they refuse it."""
    try:
        check_target(url, settings)
    except TargetRefused as refusal:
        raise InputError(str(refusal)) from None
    users = settings.test_users
    variables = {name: url for name in TARGET_VARIABLES}
    variables.update(SUPABASE_ANON_KEY=settings.publishable_key.get_secret_value(), TEST_USER_EMAIL=users[0],
                     TEST_USER_EMAIL_ALT=users[1 % len(users)])  # fmt: skip
    if settings.session_jwts:  # pre-minted tokens: nobody signs in (the sign-in request has no password to send)
        tokens = [token.get_secret_value() for token in settings.session_jwts]
        variables.update(SUPABASE_SESSION_JWT=tokens[0], jwt=tokens[0], SUPABASE_SESSION_JWT_ALT_USER=tokens[-1])
    else:
        variables["TEST_USER_PASSWORD"] = settings.test_password.get_secret_value()
    return HealthTarget(url, variables, secrets=set(SECRET_VARIABLES), pinned=set(TARGET_VARIABLES),
                        spend_ceiling_usd=decide_ceiling(url, settings).usd, cost_paths=COST_FIELDS)  # fmt: skip
