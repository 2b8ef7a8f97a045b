"""Structure tests: the architecture's rules, checked on the source itself so that they cannot drift.

* The import rules (docs/architecture.md, DESIGN.md): ``analysis`` imports none of harness/scenarios/simulator;
  ``harness`` imports neither scenarios nor simulator; ``scenarios`` never imports simulator; ``simulator`` imports
  none of the others; ``common`` (helpers all of them share) imports none of them. Read with ``ast`` (every import, also those inside functions), never by importing.
* Every endpoint key of baselines/*.toml is a request name of scenarios/names.py.
* The README's request-name table is exactly scenarios/names.py, in both directions.

A known exception to an import rule goes in KNOWN_EXCEPTIONS with its reason; the test also fails when an exception
is no longer needed, so the list cannot rot.
"""

from __future__ import annotations

import ast
import re
import tomllib
from pathlib import Path

import pytest

from scenarios import names

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("analysis", "harness", "scenarios", "simulator", "common")

# package -> the project packages it must not import
FORBIDDEN = {
    "analysis": {"harness", "scenarios", "simulator"},
    "harness": {"scenarios", "simulator"},
    "scenarios": {"simulator"},
    "simulator": {"analysis", "harness", "scenarios"},
    "common": {"analysis", "harness", "scenarios", "simulator"},  # shared by all, so it imports none of them
}

# (module file, imported package): reason. Each entry must still be needed (see test_known_exceptions_are_needed).
KNOWN_EXCEPTIONS: dict[tuple[str, str], str] = {}


def _imported_packages(path: Path, package: str) -> set[str]:
    """The top-level package of every import in the file (also imports inside functions; relative: ``package``)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            found.add(package if node.level else (node.module or "").split(".")[0])
    return found


def _violations() -> set[tuple[str, str]]:
    found = set()
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            for imported in _imported_packages(path, package) & FORBIDDEN[package]:
                found.add((str(path.relative_to(ROOT)), imported))
    return found


def test_import_rules_hold():
    unexpected = sorted(_violations() - set(KNOWN_EXCEPTIONS))
    assert not unexpected, "imports that break the architecture's rules (module, package): " + repr(unexpected)


def test_known_exceptions_are_needed():
    stale = sorted(set(KNOWN_EXCEPTIONS) - _violations())
    assert not stale, f"KNOWN_EXCEPTIONS entries no longer needed: remove them: {stale!r}"


def test_the_import_reader_sees_imports_inside_functions(tmp_path):
    """The checker itself: an import inside a function counts (the launcher's were of that kind)."""
    module = tmp_path / "probe.py"
    module.write_text("def f():\n    from scenarios.settings import get_settings\n    import simulator.app\n"
                      "from . import sibling\n")
    assert _imported_packages(module, "harness") == {"scenarios", "simulator", "harness"}


def _component_names_in(path: Path) -> set[str]:
    """The simulator's component names (simulator/profiles.py) that a string of the file names as a word."""
    from simulator.profiles import COMPONENTS

    words = re.compile(r"(?<![\w-])(" + "|".join(map(re.escape, COMPONENTS)) + r")(?![\w-])")
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and not node.value.startswith("/__admin/"):
            found.update(words.findall(node.value))  # the simulator's admin paths (its client) are not components
    return found


def test_the_harness_names_no_simulator_component():
    """How the simulator is sized for a load (a component's quota or pool) is the product's (product.py's
    simulator_sizing): the launcher names the load, never a component."""
    found = {str(path.relative_to(ROOT)): names for path in sorted((ROOT / "harness").rglob("*.py"))
             if (names := _component_names_in(path))}  # fmt: skip
    assert not found, f"harness modules naming simulator components (move that to product.py): {found}"


def test_the_component_reader_sees_a_quota_flag(tmp_path):
    module = tmp_path / "probe.py"
    module.write_text('QUOTA = "--capacity=google-places=1000"\nPATH = "/__admin/realtime"\n# gotrue in a comment\n')
    assert _component_names_in(module) == {"google-places"}


def _baseline_files() -> list[Path]:
    return sorted((ROOT / "baselines").glob("*.toml"))


@pytest.mark.parametrize("path", _baseline_files(), ids=lambda path: path.name)
def test_baseline_endpoint_keys_are_request_names(path):
    document = tomllib.loads(path.read_text())
    keys = set(document.get("endpoints", {}))
    assert keys, f"{path.name}: no [endpoints.*] section (the test would check nothing)"
    unknown = sorted(keys - {request.key for request in names.ALL})
    assert not unknown, f"{path.name}: endpoint keys not in scenarios/names.py: {unknown}"


def _readme_request_table() -> list[str]:
    text = (ROOT / "README.md").read_text()
    section = text.split("## Request names: the keys baselines use", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^\| `([^`]+)` \|", section, flags=re.MULTILINE)


def test_readme_request_table_equals_names_py():
    table = _readme_request_table()
    assert len(table) == len(set(table)), "a request name appears twice in the README's table"
    in_code = {request.key for request in names.ALL}
    assert len(in_code) == len(names.ALL), "a request name appears twice in scenarios/names.py ALL"
    assert set(table) - in_code == set(), "README rows not in scenarios/names.py"
    assert in_code - set(table) == set(), "scenarios/names.py entries missing from the README's table"


def test_names_py_all_lists_every_request_name_defined():
    defined = {value for value in vars(names).values() if isinstance(value, names.RequestName)}
    assert defined == set(names.ALL), f"defined but not in ALL: {sorted(r.key for r in defined - set(names.ALL))}"
