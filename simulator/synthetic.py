"""Seeded stand-ins for what Google Places and Foursquare would return, scored as ProspectPro scores them.

Every value comes from the random.Random it is handed, so the same seed gives the same businesses. Emails follow
ProspectPro's zero-fake-data rule: never a generated info@/contact@/hello@/sales@ address; a lead without a
verified email has "".
"""

from __future__ import annotations

import random
import re
import string
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Protocol

NAME_PREFIXES = ("Summit", "Harbor", "Evergreen", "Cascade", "Pioneer", "Lakeside", "Golden", "Riverside", "Union",
                 "Maple", "Granite", "Northstar", "Bayview", "Cedar", "Liberty", "Oak Street", "Sunrise", "Metro")
NAME_SUFFIXES = ("Co", "Group", "& Sons", "Partners", "Collective", "Works", "Studio", "LLC", "House", "Supply")
STREETS = ("Main St", "Pine St", "1st Ave", "Market St", "Broadway", "Elm St", "Union St", "Oak Ave", "Lake Blvd",
           "Madison Ave", "Harbor Way", "Jefferson St")
PERSON_FIRST = ("maria", "james", "li", "sofia", "omar", "grace", "daniel", "priya", "lucas", "emma")
PERSON_LAST = ("garcia", "nguyen", "smith", "patel", "kim", "okafor", "rossi", "johnson", "chen", "brown")
SEEDED_CAMPAIGN_TYPES = (("coffee shop", "Seattle, WA"), ("dentist", "Austin, TX"), ("plumber", "Denver, CO"),
                         ("accounting firm", "San Francisco, CA"), ("bakery", "Portland, OR"),
                         ("law firm", "New York, NY"), ("gym", "Chicago, IL"), ("florist", "Boston, MA"))

STATE_PATTERN = re.compile(r"\b([A-Z]{2})\b\s*$")


def parse_state(location: str | None) -> str | None:
    """The 2-letter state at the end of 'City, ST', as the background function parses it."""
    match = STATE_PATTERN.search(location or "")
    return match.group(1) if match else None


def business_candidates(rng: random.Random, business_type: str, location: str, count: int) -> list[dict]:
    """`count` raw candidates as the discovery sources would return them (before scoring)."""
    city = (location or "Springfield").split(",")[0].strip() or "Springfield"
    kind = (business_type or "business").split(",")[0].strip().title() or "Business"
    candidates = []
    for _ in range(count):
        name = f"{rng.choice(NAME_PREFIXES)} {kind} {rng.choice(NAME_SUFFIXES)}"
        has_address = rng.random() < 0.95
        has_phone = rng.random() < 0.85
        has_website = rng.random() < 0.75
        slug = re.sub(r"[^a-z0-9]+", "", name.lower())[:24]
        candidates.append({
            "name": name,
            "address": f"{rng.randint(10, 9999)} {rng.choice(STREETS)}, {location}" if has_address else "",
            "phone": f"({rng.randint(201, 989)}) 555-{rng.randint(100, 199):04d}" if has_phone else "",
            "website": f"https://www.{slug}.com" if has_website else "",
            "rating": round(rng.uniform(3.0, 5.0), 1),
            "user_ratings_total": rng.randint(0, 400),
            "details_enriched": has_phone or has_website,
            "source": rng.choices(("google_place_details", "google_places", "foursquare"), (6, 3, 1))[0],
            "city": city,
        })
    return candidates


def without_details(candidate: dict) -> dict:
    """A Google result whose Place Details call failed (over quota): the code keeps the text-search result with no
    phone or website (Text Search returns neither) and not details-enriched (reference §3.1; F/business-discovery-
    background searchGooglePlaces, F/business-discovery-optimized enrichWithPlaceDetails)."""
    if candidate["source"] == "foursquare":
        return candidate
    return {**candidate, "phone": "", "website": "", "details_enriched": False, "source": "google_places"}


def score(candidate: dict) -> int:
    """ProspectPro's background scorer (0-100): reference §3.1 'Scoring'."""
    total = 20 if candidate["name"] else 0
    total += 35 if candidate["address"] else -10
    total += 15 if candidate["phone"] else 0
    total += 15 if candidate["website"] else 0
    if not candidate["phone"] and not candidate["website"]:
        total -= 5
    total += min(15, 3 * candidate["rating"])
    total += 5 if candidate["user_ratings_total"] > 25 else 0
    total += 5 if candidate["details_enriched"] else 0
    total += {"foursquare": 6, "google_place_details": 4}.get(candidate["source"], 0)
    return max(0, min(100, round(total)))


def data_sources(candidate: dict) -> list[str]:
    sources = ["google_places"] if candidate["source"] != "foursquare" else ["foursquare"]
    if candidate["details_enriched"] and candidate["source"] != "foursquare":
        sources.append("google_place_details")
    return sources


def domain_of(website: str | None) -> str:
    """The SPA's domain: scheme, www. and trailing slash stripped."""
    domain = re.sub(r"^https?://", "", website or "").rstrip("/")
    return domain[4:] if domain.startswith("www.") else domain


class Chooser(Protocol):
    """What picks a name: random.Random, or the enrichment's keyed draws (simulator/costs.py KeyedDraws)."""

    def choice(self, items: Sequence[str], /) -> str: ...


def person_email(rng: Chooser, domain: str) -> tuple[str, str, str]:
    first, last = rng.choice(PERSON_FIRST), rng.choice(PERSON_LAST)
    return f"{first}.{last}@{domain}", first.title(), last.title()


def random_upper_alnum(rng: random.Random, length: int) -> str:
    return "".join(rng.choice(string.ascii_uppercase + string.digits) for _ in range(length))


def base36(number: int) -> str:
    digits = string.digits + string.ascii_uppercase
    text = ""
    while True:
        number, remainder = divmod(number, 36)
        text = digits[remainder] + text
        if not number:
            return text


def campaign_id(rng: random.Random, business_type: str, location: str, user_id: str, epoch_ms: int) -> str:
    """generate_campaign_name() then the function's normalisation and suffix (reference §3.1 step 4)."""
    moment = datetime.fromtimestamp(epoch_ms / 1000, timezone.utc)
    type_part = re.sub(r"[^A-Z]", "", (business_type or "").upper())[:4] or "CAMP"
    location_part = re.sub(r"[^A-Z]", "", (location or "").upper())[:4] or "ANY"
    raw = (f"{type_part}_{location_part}_{moment:%Y%m%d}_{moment:%H%M%S%f}_{(user_id or '')[-6:]}_"
           f"{rng.getrandbits(24):06x}")
    base = re.sub(r"[^A-Z0-9_]", "_", raw.upper())[:40]
    return f"{base}_{base36(epoch_ms)}_{random_upper_alnum(rng, 8)}"
