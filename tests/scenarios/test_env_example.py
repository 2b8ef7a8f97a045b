""".env.example documents exactly the settings that exist, and uncommented it loads."""

from __future__ import annotations

import re
from pathlib import Path

from scenarios.settings import ENV_PREFIX, HarnessSettings, load_settings

EXAMPLE = Path(__file__).resolve().parents[2] / ".env.example"


def test_every_setting_is_in_env_example_and_nothing_else():
    documented = set(re.findall(r"^# (PP_[A-Z_]+)=", EXAMPLE.read_text(), re.M))
    assert documented == {ENV_PREFIX + name.upper() for name in HarnessSettings.model_fields}


def test_the_example_values_load(tmp_path, clean_pp_environment):
    lines = []
    for line in EXAMPLE.read_text().splitlines():
        match = re.match(r"^# (PP_[A-Z_]+=\S*)", line)
        if match and "<" not in line and "..." not in line:
            lines.append(match.group(1))
    (tmp_path / ".env").write_text("\n".join(lines) + "\n")
    settings = load_settings()
    assert settings.poll_interval_s == 4 and settings.max_users == 200 and settings.tier == "BASE"
