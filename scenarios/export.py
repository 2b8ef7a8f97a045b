"""ExportUser: campaign-export-user-aware, metadata and file downloads, with the files checked (reference §3.7, §9.1).

The user exports its largest campaign (the seeded 100-lead campaign on the simulator): the export metadata
(default JSON answer), the CSV file (header columns and row count checked) and the JSON file (lead count
checked). ``export_campaign`` is shared with the journey.
"""

from __future__ import annotations

from locust import tag, task

from scenarios import names
from scenarios.base import ProspectProUser
from scenarios.contracts import CampaignRow, ExportJsonFile, ExportMetadata, check_export_csv
from scenarios.enrichment import largest_campaign, list_campaigns

EXPORT_PATH = "/functions/v1/campaign-export-user-aware"


def export_campaign(user: ProspectProUser, campaign_id: str, expected_leads: int, kind: str) -> bool:
    """One export of ``kind`` "metadata", "csv" or "json"; True when it came back complete and well-formed."""
    metrics = user.run_state.metrics
    result: object | None  # the parsed export, or the raw response of the CSV download
    if kind == "metadata":
        def right_count(metadata: ExportMetadata) -> str | None:
            found = metadata.campaign.leadCount
            return None if found == expected_leads else f"contract: export metadata leadCount {found}, expected {expected_leads}"

        result = user.call(names.EXPORT_METADATA, EXPORT_PATH, json={"campaignId": campaign_id, "format": "csv"},
                           model=ExportMetadata, check=right_count)  # fmt: skip
    elif kind == "csv":
        result = user.call(names.EXPORT_CSV, f"{EXPORT_PATH}?download=true", json={"campaignId": campaign_id, "format": "csv"},
                           check=lambda response: check_export_csv(_utf8(response.content), expected_leads))  # fmt: skip
    elif kind == "json":
        def right_leads(file: ExportJsonFile) -> str | None:
            if len(file.leads) != expected_leads:
                return f"contract: JSON export has {len(file.leads)} leads, expected {expected_leads}"
            if file.exportMetadata.totalLeads != len(file.leads):
                return f"contract: JSON export says totalLeads {file.exportMetadata.totalLeads} but holds {len(file.leads)}"
            return None

        result = user.call(names.EXPORT_JSON, f"{EXPORT_PATH}?download=true", json={"campaignId": campaign_id, "format": "json"},
                           model=ExportJsonFile, check=right_leads)  # fmt: skip
    else:
        raise ValueError(f"unknown export kind {kind!r}")
    metrics.count("exports_attempted")  # after the answer: an export cut off by the end of the run is not counted
    if result is not None:
        metrics.count("exports_succeeded")
    return result is not None


def _utf8(body: bytes | None) -> str:
    # The export is UTF-8 (reference §9.1); Locust's response.text would guess (ISO-8859-1 for text/csv).
    return body.decode("utf-8", errors="replace") if body else ""


class ExportUser(ProspectProUser):
    """Exports its largest campaign: metadata, CSV and JSON downloads."""

    pacing_key = "ExportUser"

    def on_start(self) -> None:
        super().on_start()
        self.campaign: CampaignRow | None = None

    def _campaign(self) -> CampaignRow | None:
        if self.campaign is None:
            campaigns = list_campaigns(self)
            self.campaign = largest_campaign(campaigns) if campaigns else None
        return self.campaign

    def _export(self, kind: str) -> None:
        campaign = self._campaign()
        if campaign is not None:
            export_campaign(self, campaign.id, campaign.results_count or 0, kind)

    @tag("export")
    @task(1)
    def export_metadata(self) -> None:
        self._export("metadata")

    @tag("export")
    @task(2)
    def download_csv(self) -> None:
        self._export("csv")

    @tag("export")
    @task(1)
    def download_json(self) -> None:
        self._export("json")
