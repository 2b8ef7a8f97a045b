"""Response contracts: what passes, and the one-line message of what does not."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from scenarios.contracts import (EXPORT_CSV_COLUMNS, DiscoveryJob, DiscoveryOptimized, DiscoverySubmitted, LeadRows,
                                 TokenResponse, check_export_csv, contract_violation)  # fmt: skip


def violation(model, body) -> str:
    with pytest.raises(ValidationError) as caught:
        model.model_validate_json(body if isinstance(body, bytes) else json.dumps(body).encode())
    return contract_violation(caught.value)


def test_code_faithful_bodies_pass():
    submitted = DiscoverySubmitted.model_validate_json(json.dumps({
        "success": True, "message": "Discovery job created and processing in background", "jobId": "job_" + "a" * 32,
        "campaignId": "COFF_SEAT_X", "status": "processing", "estimatedTime": "1-2 minutes"}))  # fmt: skip
    assert submitted.jobId.startswith("job_")
    job = DiscoveryJob.model_validate_json(b'{"id":"job_1","status":"completed","progress":100,"metrics":{"exhausted":false}}')
    assert job.status == "completed"
    rows = LeadRows.model_validate_json(b'[{"id":1,"campaign_id":"c","business_name":"A","confidence_score":80}]')
    assert rows.root[0].business_name == "A"


def test_missing_nested_field_names_its_path():
    body = {"success": True, "campaignId": "c", "results": {"totalFound": 1, "qualified": 1},
            "costs": {"totalCost": 0.02}, "leads": [{"address": "1 Main St"}]}
    assert violation(DiscoveryOptimized, body) == "contract: leads[0].businessName missing"


def test_thunder_shaped_body_is_a_contract_violation():
    # Thunder expected `results` to be an array of snake_case rows; the code returns an object (reference §10).
    body = {"success": True, "campaignId": "c", "results": [{"business_name": "A"}], "costs": {"totalCost": 0}, "leads": []}
    assert violation(DiscoveryOptimized, body).startswith("contract: results should be an object (got list)")


def test_malformed_json_and_wrong_types():
    assert violation(DiscoveryJob, b"<html>502 Bad Gateway</html>") == "contract: body is not valid JSON"
    assert violation(DiscoveryJob, b"[]") == "contract: body should be an object (got list)"
    message = violation(DiscoveryJob, {"id": "j", "status": "done", "progress": 5})
    assert message.startswith("contract: status should be 'pending', 'processing', 'completed' or 'failed'")


def test_a_violation_message_never_quotes_a_value():
    token = "eyJhbGciOiJIUzI1NiJ9.secret-payload.sig"
    message = violation(TokenResponse, {"access_token": token, "token_type": "bearer", "expires_in": "soon",
                                        "refresh_token": "r", "user": {"id": "u"}})  # fmt: skip
    assert message == "contract: expires_in should be a valid integer, unable to parse string as an integer (got str)"
    assert token not in violation(TokenResponse, {"access_token": token})


def csv_text(rows: int, header=EXPORT_CSV_COLUMNS) -> str:
    lines = [",".join(header)]
    lines += [f'"Biz {i}","1 Main St, Seattle, WA","555","http://x","",80,"google_places",false,false,false,0.02,"basic"'
              for i in range(rows)]  # fmt: skip
    return "\n".join(lines)


def test_csv_export_checks_header_and_row_count():
    assert check_export_csv(csv_text(100), 100) is None
    assert check_export_csv(csv_text(99), 100) == "contract: CSV export has 99 rows, expected 100"
    assert check_export_csv(csv_text(3, EXPORT_CSV_COLUMNS[:-1]), 3) == "contract: CSV export header missing Processing Strategy"
    assert check_export_csv("", 1) == "contract: CSV export is empty"
    assert check_export_csv(csv_text(1) + "\n\"only\",\"two\"", 2) == "contract: CSV export row 2 has 2 fields, expected 12"
