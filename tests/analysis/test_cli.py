"""The verb registry: lazy verb modules, 'not available' for a missing one, exit codes."""

import pytest

from analysis import cli
from analysis.exit_codes import ExitCode


def test_a_verb_whose_module_is_missing_is_not_available_exit_2(monkeypatch, capsys):
    monkeypatch.setitem(cli.VERBS, "compare", ("analysis.no_such_verb_module", "test"))
    assert cli.main(["compare", "x"]) == ExitCode.USAGE
    assert capsys.readouterr().err.strip() == "python -m analysis compare: not available in this build (analysis.no_such_verb_module is missing)"


def test_a_broken_import_inside_a_verb_module_is_not_hidden(monkeypatch, tmp_path):
    (tmp_path / "broken_verb_for_test.py").write_text("import module_that_does_not_exist\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(cli.VERBS, "compare", ("broken_verb_for_test", "test"))
    with pytest.raises(ModuleNotFoundError):
        cli.main(["compare", "x"])


@pytest.mark.parametrize("argv", [[], ["unknown-verb"], ["compare"]])
def test_usage_errors_exit_2(argv):
    with pytest.raises(SystemExit) as exited:
        cli.main(argv)
    assert exited.value.code == ExitCode.USAGE


def test_compare_help_lists_the_exit_codes(capsys):
    with pytest.raises(SystemExit):
        cli.main(["compare", "--help"])
    assert "3 sla breached, 4 regressed, 5 run not valid, 6 stopped by guard" in capsys.readouterr().out.replace("\n", " ").replace("  ", " ")


def test_the_real_process_exits_with_the_decisions_code():
    import subprocess
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parents[2]
    finished = subprocess.run(
        [sys.executable, "-m", "analysis", "compare", "tests/golden/runs/slow-leads", "--baseline", "baselines/production.toml", "--format", "markdown"],
        cwd=repo, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert finished.returncode == ExitCode.SLA_BREACHED, finished.stderr
    assert finished.stdout.startswith("## Performance verdict: ❌ BREACH (exit 3)")
