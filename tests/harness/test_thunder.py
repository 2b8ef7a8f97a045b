"""Thunder Client collections: the three spellings read into one model, every test type judged, variables chained."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from analysis.errors import InputError
from harness.health import load_known_drift, run_collection
from harness.thunder import Response, Test, Variables, evaluate, load_collection, load_environment
from harness.thunder_cli import main as thunder_main, on_target_only

ROOT = Path(__file__).resolve().parents[2]
TEAM = ROOT.parent / "shared" / "reference" / "thunder-collection"  # ../shared, as the issue names it
TEAM_FILES = sorted(TEAM.glob("ProspectPro-*.json")) if TEAM.is_dir() else []


def answer(status=200, body: object = None, headers: dict | None = None, ms=12.0) -> Response:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return Response(status, {k.lower(): v for k, v in (headers or {"Content-Type": "application/json"}).items()}, raw, ms)


def write(tmp_path: Path, data: object, name="c.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(data))
    return path


def test_the_team_dialect_and_thunders_export_read_into_the_same_checks(tmp_path):
    team = {"clientName": "Thunder Client", "collectionName": "T", "collectionId": "t", "requests": [
        {"id": "r", "name": "R", "url": "{{SUPABASE_URL}}/x", "method": "POST",
         "headers": [{"name": "Authorization", "value": "Bearer {{JWT}}"}],
         "body": {"type": "json", "raw": "{\"a\": 1}", "form": []},
         "tests": [{"type": "res-code", "value": "200,204"}, {"type": "json-query", "value": "$.user", "action": "istype object"},
                   {"type": "header", "value": "Content-Type", "action": "contains text/csv"}]}]}  # fmt: skip
    export = {"client": "Thunder Client", "collectionName": "E", "requests": [
        {"_id": "r", "colId": "c", "containerId": "", "name": "R", "url": "{{SUPABASE_URL}}/x", "method": "POST",
         "auth": {"type": "bearer", "bearer": "{{JWT}}"}, "body": {"type": "json", "raw": "{\"a\": 1}", "form": []},
         "tests": [{"type": "json-query", "custom": "json.user", "action": "istype", "value": "object"},
                   {"type": "Content-Type", "custom": "", "action": "contains", "value": "text/csv"},
                   {"type": "res-time", "custom": "", "action": "<", "value": "500"}]}]}  # fmt: skip
    runbook = {"name": "Load Test: Discovery Endpoint", "method": "POST", "url": "{{baseUrl}}/f",
               "headers": {"Authorization": "Bearer {{jwt}}"}, "body": {"maxResults": 10},
               "tests": [{"type": "res-time", "value": 5000, "name": "Response under 5s (production SLA)"},
                         {"type": "res-code", "value": 200, "name": "Success status"}]}  # fmt: skip
    team_request = load_collection(write(tmp_path, team, "team.json")).requests[0]
    export_request = load_collection(write(tmp_path, export, "export.json")).requests[0]
    runbook_request = load_collection(write(tmp_path, runbook, "runbook.json")).requests[0]
    assert [(t.kind, t.target, t.op, t.expected) for t in team_request.tests] == [
        ("res-code", "", "oneof", "200,204"), ("json-query", "$.user", "istype", "object"),
        ("header", "Content-Type", "contains", "text/csv")]  # fmt: skip
    assert [(t.kind, t.target, t.op, t.expected) for t in export_request.tests] == [
        ("json-query", "json.user", "istype", "object"), ("header", "Content-Type", "contains", "text/csv"),
        ("res-time", "", "<", "500")]  # fmt: skip
    # The export's auth tab becomes the same header the team wrote by hand; the body gets its content type.
    assert ("Authorization", "Bearer {{JWT}}") in export_request.headers and ("Content-Type", "application/json") in export_request.headers
    assert [(t.kind, t.op, t.expected, t.label) for t in runbook_request.tests] == [
        ("res-time", "<", "5000", "Response under 5s (production SLA)"), ("res-code", "equal", "200", "Success status")]
    assert json.loads(runbook_request.body) == {"maxResults": 10} and ("Authorization", "Bearer {{jwt}}") in runbook_request.headers


@pytest.mark.parametrize(("test", "response", "passes"), [
    (Test("res-code", "", "oneof", "200,429,504", ""), answer(429, {}), True),
    (Test("res-code", "", "oneof", "200,429,504", ""), answer(500, {}), False),
    (Test("res-code", "", "<", "400", ""), answer(201, {}), True),
    (Test("res-time", "", "<", "5000", ""), answer(200, {}, ms=4999), True),
    (Test("res-time", "", "<", "5000", ""), answer(200, {}, ms=5000), False),
    (Test("json-query", "$.user.id", "notequal", "null", ""), answer(200, {"user": {"id": "u1"}}), True),
    (Test("json-query", "$.user.id", "notequal", "null", ""), answer(200, {"other": 1}), False),  # absent is not "not null"
    (Test("json-query", "$.user.id", "notequal", "null", ""), answer(200, {"user": {"id": None}}), False),
    (Test("json-query", "json.items[-1].n", "equal", "3", ""), answer(200, {"items": [{"n": 1}, {"n": 3}]}), True),
    (Test("json-query", "$", "istype", "array", ""), answer(200, []), True),
    (Test("json-query", "$[0].total_leads", "istype", "number", ""), answer(404, {"code": "PGRST202"}), False),
    (Test("json-query", "json.ok", "equal", "true", ""), answer(200, {"ok": True}), True),
    (Test("json-query", "json.cost", "equal", "0", ""), answer(200, {"cost": 0.0}), True),
    (Test("json-query", "json", "count", "2", ""), answer(200, [1, 2]), True),
    (Test("json-query", "$.error", "contains", "Unauthorized", ""), answer(401, {"error": "Auth failure (extract_token): x"}), False),
    (Test("json-query", "json.tags", "contains", "b", ""), answer(200, {"tags": ["a", "b"]}), True),
    (Test("json-query", "json.total", "<=", "0.5", ""), answer(200, {"total": 0.5}), True),
    (Test("json-query", "json.x", "equal", "1", ""), answer(200, b"not json"), False),
    (Test("header", "Content-Disposition", "contains", "attachment", ""), answer(200, {}), False),
    (Test("header", "content-type", "contains", "text/csv", ""), answer(200, b"a,b", {"Content-Type": "text/csv"}), True),
    (Test("res-body", "", "startswith", "Business Name,", ""), answer(200, b"Business Name,Address"), True),
    (Test("res-body", "", "isjson", "true", ""), answer(200, b"{oops"), False),
    (Test("res-body", "", "regex", "^[0-9]+$", ""), answer(200, b"123"), True),
])  # fmt: skip
def test_each_check_passes_and_fails_as_thunder_judges_it(test, response, passes):
    outcome = evaluate(test, response)
    assert outcome.supported and outcome.passed is passes, outcome.detail


def test_an_unknown_test_type_or_operator_fails_as_unsupported_never_passes():
    for test in (Test("res-cookie", "session", "equal", "x", ""), Test("json-query", "$.a", "frobnicate", "x", ""),
                 Test("json-query", "json.items[?id=5].name", "equal", "x", "")):
        outcome = evaluate(test, answer(200, {"a": "x"}))
        assert not outcome.supported and not outcome.passed and outcome.detail.startswith("unsupported test")


def test_no_answer_fails_every_check_with_the_reason():
    outcome = evaluate(Test("res-code", "", "equal", "200", ""), Response(0, {}, b"", 3.0, error="ConnectionRefusedError"))
    assert not outcome.passed and outcome.detail == "no response: ConnectionRefusedError"


def test_set_env_var_chains_a_value_into_the_next_request_and_secrets_are_redacted(tmp_path):
    collection = load_collection(write(tmp_path, {"client": "Thunder Client", "collectionName": "Chain", "requests": [
        {"_id": "1", "name": "sign in", "url": "http://127.0.0.1:9/token", "method": "POST", "sortNum": 1,
         "tests": [{"type": "set-env-var", "custom": "json.access_token", "action": "setto", "value": "{{SESSION_JWT}}"},
                   {"type": "json-query", "custom": "json.access_token", "action": "equal", "value": "nope"}]},
        {"_id": "2", "name": "use it", "url": "http://127.0.0.1:9/me?id={{ID}}", "method": "GET", "sortNum": 2,
         "auth": {"type": "bearer", "bearer": "{{SESSION_JWT}}"},
         "tests": [{"type": "json-query", "custom": "json.id", "action": "equal", "value": "{{ID}}"}]}]}))  # fmt: skip
    token = "eyJhbGciOiJIUzI1NiJ9.payload-of-a-session.signature"
    sent = []

    def sender(request, timeout):
        sent.append(request)
        return answer(200, {"access_token": token} if request.url.endswith("/token") else {"id": "42"})

    variables = Variables()
    variables.set("ID", "42")
    results = run_collection(collection, variables, sender=sender)
    assert dict(sent[1].headers)["Authorization"] == f"Bearer {token}" and sent[1].url.endswith("?id=42")
    assert [c.verdict for r in results for c in r.checks] == ["pass", "fail", "pass"]
    shown = json.dumps([c.detail for r in results for c in r.checks], ensure_ascii=False)
    assert token not in shown and "eyJhbGci…(" in shown  # the failing check's detail shows a preview only


def test_variables_fill_system_values_and_leave_unknown_ones_as_thunder_does():
    variables = Variables()
    variables.set("A", "1")
    text, unresolved = variables.fill("{{A}}-{{$timestamp}}-{{#guid}}-{{#number, 5, 5}}-{{B}}")
    a, timestamp, *rest = text.split("-")
    assert a == "1" and timestamp.isdigit() and rest[-2] == "5" and rest[-1] == "{{B}}" and unresolved == ["B"]


def test_a_request_to_another_host_than_the_target_is_not_sent():
    guarded = on_target_only("http://127.0.0.1:8000", sender=lambda request, timeout: pytest.fail("sent"))
    collection = type("C", (), {"name": "c", "key": "c"})
    from harness.thunder import PreparedRequest

    response = guarded(PreparedRequest("GET", "https://sriycekxdqnesdsgwiuc.supabase.co/rest/v1/x", (), None, ()), 1.0)
    assert response.status == 0 and "is not the target http://127.0.0.1:8000" in response.error
    assert collection  # (the collection type is not needed by the sender)


@pytest.mark.parametrize(("content", "problem"), [
    ("{", "invalid JSON at line 1"),
    ("[]", "not a Thunder Client collection"),
    ('{"requests": [{"name": "x"}]}', "requests[0].url: a request needs a 'url'"),
    ('{"requests": [{"url": "u", "tests": [{"value": 1}]}]}', "requests[0].tests[0]: a test needs a 'type'"),
    ('{"requests": [{"url": "u", "body": {"type": "binary"}}]}', "requests[0].body.type: body type 'binary' is not supported"),
])  # fmt: skip
def test_a_broken_collection_is_one_line_and_exit_1_before_anything_is_sent(tmp_path, capsys, content, problem):
    path = tmp_path / "broken.json"
    path.write_text(content)
    with pytest.raises(InputError) as error:
        load_collection(path)
    assert problem in str(error.value) and str(path) in str(error.value)
    code = thunder_main(["health", str(path)], open_target=lambda *a: pytest.fail("a target was opened"))
    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1 and err.startswith(f"error: {path}") and problem in err


def test_environment_files_in_both_thunder_spellings(tmp_path):
    export = write(tmp_path, {"client": "Thunder Client", "variables": [{"name": "A", "value": "1"}, {"name": "B", "value": ""}]}, "e.json")
    git_sync = write(tmp_path, {"_id": "x", "name": "dev", "data": [{"name": "A", "value": "2"}]}, "g.json")
    assert load_environment(export) == {"A": "1", "B": ""} and load_environment(git_sync) == {"A": "2"}
    if TEAM.is_dir():
        assert "SUPABASE_SESSION_JWT" in load_environment(TEAM / "thunder-environment.json")


def test_the_known_drift_file_names_only_checks_that_exist_in_the_team_collections():
    drift = load_known_drift(ROOT / "collections" / "known-drift.toml")
    if not TEAM_FILES:
        pytest.skip("the team's collections are not on this machine")
    labels = {(c.key, r.key, t.label) for c in map(load_collection, TEAM_FILES) for r in c.requests for t in r.tests}
    assert drift and set(drift) <= labels


def test_every_project_collection_is_in_thunders_export_format_and_documents_its_areas_drift():
    drift = load_known_drift(ROOT / "collections" / "known-drift.toml")
    for path in sorted((ROOT / "collections").glob("*.json")):
        data = json.loads(path.read_text())
        assert data["client"] == "Thunder Client" and data["version"] == "1.2"
        assert all("_id" in r and "colId" in r and all("custom" in t for t in r["tests"]) for r in data["requests"])
        collection = load_collection(path)
        assert all(t.supported for r in collection.requests for t in r.tests)
        area = path.stem.split("-")[1].lower()  # ProspectPro-Auth -> auth
        notes = {d.reference for (key, _, _), d in drift.items() if key == f"prospectpro-{area}"}
        assert notes, f"no known drift for {area}"
        assert "known-drift.toml" in collection.description and collection.description.count("\n- ") >= 1
