"""The embedded ProspectPro stand-in: `python -m simulator` (a separate process from Locust).

It serves ProspectPro's Supabase surface with the code-faithful behaviour of ../shared/reference/prospectpro-api.md:
GoTrue (/auth/v1/token password + refresh_token grants, /auth/v1/user, /auth/v1/admin/users), the edge functions
business-discovery-background (+ its job on discovery_jobs), business-discovery-optimized, enrichment-orchestrator,
enrichment-hunter, enrichment-neverbounce, campaign-export-user-aware and test-new-auth, and a PostgREST subset
(GET on discovery_jobs, campaigns, leads, dashboard_exports, campaign_analytics, user_profiles), and Realtime
(/realtime/v1/websocket: postgres_changes on discovery_jobs, see realtime.py). It imports nothing from the rest of
the project.

Start-up prints exactly one stdout line, then nothing per request (unless --verbose, to stderr):
    prospectpro-simulator ready url=http://127.0.0.1:PORT profile=healthy seed=1 time_scale=1.0

Defaults: publishable key (apikey) sb_publishable_simulator; service-role key sb_secret_simulator; admin token
sim-admin-token; users loadtest-1..50@prospectpro.test with password prospectpro-loadtest, each owning one completed
campaign of exactly 100 leads. Ids and seeded rows derive from --seed.

Time: --time-scale multiplies every simulated latency, queue timeout and quota wait limit; --job-time-scale
(default: --time-scale) multiplies a background job's own waits (Google calls, the 2 s between result pages, the
80 ms after each Place Details call, its PostgREST writes), so a job's duration follows its work. Third-party
quotas are per simulated second (at --time-scale s a quota of R allows R/s real requests per second, so it saturates
at the same number of users). Real-time, never scaled: --service-time, rate limits (sign-in, refresh, the
rate-limited and degraded-discovery profiles' rates), JWT lifetimes.

Components (profiles.toml [components.*], each number with its source): GoTrue, PostgREST with its Postgres pool,
Realtime, each edge function's workers (cold starts when a function scales up) and each third-party quota. Every
edge-function call makes one GoTrue getUser; the orchestrator calls its siblings (Hunter, state license,
NeverBounce, ...) one after another, each through its worker, GoTrue and its provider's quota; a background job
goes through Google's quota, PostgREST and one orchestrator call per lead. Internal calls are in-process
(simulator/platform.py) but take capacity as external calls do. A pool past its capacity queues (FIFO; queue wait
is latency); more than its queue limit waiting -> 503; waiting longer than 10 s x time scale -> 504. With
`--capacity F=N --service-time F=MS` a function's peak throughput is exactly N / (MS / 1000) requests per second
(its getUser hop and sub-calls are then not modelled, so nothing else adds to the slot time).

Accounting: GET /__admin/stats -> {"served": {"<METHOD> <path>": {"<status>": n}}, "total": n, "components":
{name: {kind, capacity, calls, busy_s, queue_wait_s, rejections, ...}}}; the key drops the query string except
/auth/v1/token?grant_type=<x>; websockets count as `WS /realtime/v1/websocket` (handshake) and
`WS phx_join|heartbeat|postgres_changes` (messages a client times). GET /__admin/realtime -> open/peak connections.
Fault profiles and the latency/capacity model: profiles.toml.
Modules: cli (start-up), config (flags), profiles (+ .toml), httpserver, app (routing, pipeline), faults, capacity,
components, platform (calls between components), latency, accounting, admin, gotrue, edge (shared function
auth/CORS), discovery, enrichment, enrichment_services, export, authtest, postgrest, store (SQLite; change
listeners), realtime, seed, synthetic (seeded businesses), costs, jsonbody.
"""
