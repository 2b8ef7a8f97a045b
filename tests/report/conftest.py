"""Make the repository root importable when pytest is run as ``pytest tests/analysis`` (not ``python -m pytest``).

``make test`` runs ``python -m pytest``, which already puts the working directory on sys.path; this covers the
direct ``.venv/bin/pytest`` entry point too. Harmless if pytest.ini later sets ``pythonpath = .``.
"""

import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))
