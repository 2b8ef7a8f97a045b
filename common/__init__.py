"""Small helpers every package of the project may import (analysis, harness, scenarios and the simulator).

It imports none of them (tests/test_structure.py checks it), so that the simulator, which imports none of the
others, can share them too.
"""
