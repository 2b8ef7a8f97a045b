"""A locustfile fragment that keeps the CPU busy while it is imported, like a heavy import on a loaded CI machine.

time.sleep would not do: gevent patches it, and running the event loop is exactly what hides the problem.
"""

import time

BUSY_S = 2.5
_end = time.monotonic() + BUSY_S
while time.monotonic() < _end:
    pass
