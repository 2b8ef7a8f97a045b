"""Pydantic models of every response body the harness reads, and the checks of export files.

Each model holds what the front end (or the next step of a journey) actually reads, taken from the code-faithful
behaviour in the API reference (sections cited per model); extra fields are ignored, so a harmless addition on the
server does not fail a run, while a missing or retyped field the front end needs does.

``contract_violation(error)`` turns a pydantic ValidationError into the one-line message a failure carries:
``contract: leads[0].businessName missing``.
"""

from __future__ import annotations

import csv
import io
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, RootModel, ValidationError


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


# ---- errors (every service's envelope; only used to quote the server's words in a failure message) -------------
class ErrorEnvelope(_Body):
    """Edge functions: {success:false, error}; GoTrue: {msg} / {error_description}; PostgREST and Kong: {message}."""

    error: str | None = None
    msg: str | None = None
    message: str | None = None
    error_description: str | None = None

    def text(self) -> str | None:
        return self.error or self.msg or self.error_description or self.message


# ---- auth (reference §2.2, §3.8) -----------------------------------------------------------------------------------
class ProfileRow(_Body):
    """GET /rest/v1/user_profiles?select=id&id=eq.<uid> as a single object (AuthComponent on sign-in)."""

    id: str


class GoTrueUser(_Body):
    """GET /auth/v1/user, and the `user` of a token response."""

    id: str
    email: str | None = None


class TokenResponse(_Body):
    """POST /auth/v1/token (password and refresh_token grants): GoTrue's session."""

    access_token: str = Field(min_length=1)
    token_type: str
    expires_in: int
    expires_at: int | None = None
    refresh_token: str = Field(min_length=1)
    user: GoTrueUser


class TestNewAuthRequest(_Body):
    userId: str


class TestNewAuthAuthentication(_Body):
    success: Literal[True]
    request: TestNewAuthRequest


class TestNewAuthResponse(_Body):
    """POST /functions/v1/test-new-auth: the user is under authentication.request (no top-level `user`, §10)."""

    ok: Literal[True]
    authentication: TestNewAuthAuthentication


# ---- discovery (reference §3.1-§3.3, §4) --------------------------------------------------------------------------
class DiscoverySubmitted(_Body):
    """POST business-discovery-background: 200 right away; the job runs on."""

    success: Literal[True]
    jobId: str = Field(pattern=r"^job_")
    campaignId: str = Field(min_length=1)
    status: Literal["processing"]


JobStatus = Literal["pending", "processing", "completed", "failed"]


class DiscoveryJob(_Body):
    """GET /rest/v1/discovery_jobs?select=*&id=eq.<id> as a single object: the fields useJobProgress reads."""

    id: str
    status: JobStatus
    progress: int
    current_stage: str | None = None
    metrics: dict | None = None
    error: str | None = None
    completed_at: str | None = None
    campaign_id: str | None = None


class CampaignRow(_Body):
    """A campaigns row as CampaignProgress selects it."""

    id: str
    business_type: str
    location: str
    status: str
    total_cost: float | None = None
    results_count: int | None = None


class LeadRow(_Body):
    """A leads row as CampaignProgress / useCampaignResults select it."""

    id: int
    campaign_id: str
    business_name: str
    address: str | None = None
    phone: str | None = None
    website: str | None = None
    email: str | None = None
    confidence_score: int | None = None
    validation_cost: float | None = None
    enrichment_data: dict | None = None


class CampaignRows(RootModel[list[CampaignRow]]):
    """A PostgREST array of campaigns (RLS: only the signed-in user's)."""


class LeadRows(RootModel[list[LeadRow]]):
    """A PostgREST array of leads."""


class OptimizedLead(_Body):
    businessName: str
    address: str | None = None
    phone: str | None = None
    website: str | None = None
    optimizedScore: float | None = None
    validationCost: float | None = None


class OptimizedResults(_Body):
    totalFound: int
    qualified: int


class OptimizedCosts(_Body):
    totalCost: float
    costPerLead: float | None = None  # null with zero leads (NaN serialised)


class DiscoveryOptimized(_Body):
    """POST business-discovery-optimized: `results` is an object and leads are camelCase (code-faithful, §10)."""

    success: Literal[True]
    campaignId: str
    results: OptimizedResults
    costs: OptimizedCosts
    leads: list[OptimizedLead]


# ---- enrichment (reference §3.5) ----------------------------------------------------------------------------------
class ProviderError(_Body):
    service: str
    error: str = ""


class EnrichmentMetadata(_Body):
    servicesUsed: list[str]
    servicesSkipped: list[str]
    errors: list[ProviderError] = []  # a provider step that threw: {service, error} (reference §3.5)


class Enrichment(_Body):
    """POST enrichment-orchestrator. `success` may be false with 200 when a step threw: judged by the caller."""

    success: bool
    businessName: str
    enrichedData: dict
    confidenceScore: float
    totalCost: float
    costBreakdown: dict[str, float]
    processingMetadata: EnrichmentMetadata


# ---- export (reference §3.7, §9.1) --------------------------------------------------------------------------------
class ExportCampaign(_Body):
    id: str
    leadCount: int


class ExportInfo(_Body):
    format: str
    fileName: str
    size: int


class ExportMetadata(_Body):
    """POST campaign-export-user-aware without download=true: a description of the export, not the file."""

    success: Literal[True]
    exportId: str
    campaign: ExportCampaign
    export: ExportInfo


class ExportedLead(_Body):
    businessName: str
    confidenceScore: float | None = None
    totalCost: float | None = None


class ExportFileMetadata(_Body):
    totalLeads: int


class ExportJsonFile(_Body):
    """The JSON export file (download=true, format json)."""

    campaign: dict
    leads: list[ExportedLead]
    exportMetadata: ExportFileMetadata


# The CSV export's header with includeEnrichmentData (the default), reference §9.1.
EXPORT_CSV_COLUMNS: tuple[str, ...] = (
    "Business Name", "Address", "Phone", "Website", "Email", "Confidence Score",
    "Verification Sources", "Apollo Verified", "Chamber Verified", "License Verified", "Total Cost",
    "Processing Strategy",
)  # fmt: skip


def check_export_csv(text: str, expected_rows: int) -> str | None:
    """None when the CSV has exactly the expected header and row count, else what is wrong (one line)."""
    rows = list(csv.reader(io.StringIO(text), skipinitialspace=True))
    if not rows:
        return "contract: CSV export is empty"
    header = tuple(column.strip() for column in rows[0])
    if header != EXPORT_CSV_COLUMNS:
        missing = [column for column in EXPORT_CSV_COLUMNS if column not in header]
        detail = f"missing {', '.join(missing)}" if missing else f"columns out of order: {', '.join(header)}"
        return f"contract: CSV export header {detail}"
    data_rows = [row for row in rows[1:] if row]
    if len(data_rows) != expected_rows:
        return f"contract: CSV export has {len(data_rows)} rows, expected {expected_rows}"
    short = next((i for i, row in enumerate(data_rows) if len(row) != len(EXPORT_CSV_COLUMNS)), None)
    if short is not None:
        return f"contract: CSV export row {short + 1} has {len(data_rows[short])} fields, expected {len(EXPORT_CSV_COLUMNS)}"
    return None


def contract_violation(error: ValidationError, *, subject: str | None = None) -> str:
    """``contract: leads[0].businessName missing`` from the first of pydantic's errors (+ how many more)."""
    problems = error.errors(include_url=False)
    first = problems[0]
    where = _location(first["loc"]) or "body"
    if first["type"] == "missing":
        what = "missing"
    elif first["type"] in ("json_invalid", "json_type"):
        where, what = "body", "is not valid JSON"
    else:
        # Only the type of what came back, never its value: a value in an auth body may be a token.
        what = f"{first['msg'].lower().removeprefix('input ')} (got {type(first.get('input')).__name__})"
    more = f" (+{len(problems) - 1} more)" if len(problems) > 1 else ""
    prefix = f"contract: {subject} " if subject else "contract: "
    return f"{prefix}{where} {what}{more}"


def _location(loc: tuple) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text
