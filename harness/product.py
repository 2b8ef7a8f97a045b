"""The launcher's seam to the product it drives: harness knows no product, the project's root names one.

As Locust is given ``-f locustfile.py``, the launcher (harness/__main__.py) is given ``product.py`` at the project's
root: a file that defines ``PRODUCT = Product(...)``, loaded by path, so that no module of ``harness`` imports the
product's packages (tests/test_structure.py checks it). What the launcher asks of the product is only this:
* ``configured_target()``: the target URL from the product's settings (environment, .env), or None for "start the
  embedded simulator"; bad settings raise analysis.errors.InputError (one line, exit 2);
* ``health_target(url)``: what the health collections need to know about that target (harness/thunder_cli.py);
* ``simulator_sizing[load]``: the embedded simulator's arguments that size it for the load a launcher mode names
  (``Mode.simulator_load``, e.g. "perf"): the launcher says which load, the product says what that means for the
  simulator's components. They are recorded in the manifest's ``extra_args``, before the caller's --simulator-arg's.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from harness.thunder_cli import HealthTarget


@dataclass(frozen=True)
class Product:
    configured_target: Callable[[], str | None]
    health_target: Callable[[str], HealthTarget]
    simulator_sizing: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


def load_product(path: Path) -> Product:
    """``PRODUCT`` of the file at ``path`` (imported once per process, like a locustfile)."""
    spec = importlib.util.spec_from_file_location(f"_harness_product_{path.stem}", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"{path}: not a Python file")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    product = getattr(module, "PRODUCT", None)
    if not isinstance(product, Product):
        raise TypeError(f"{path}: defines no PRODUCT = harness.product.Product(...)")
    return product
