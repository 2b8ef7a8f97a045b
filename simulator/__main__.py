"""`python -m simulator [flags]`: start the embedded ProspectPro stand-in and print one ready line.

No monkey-patching: the server uses gevent's own sockets and sleeps, and SQLite calls are meant to block.
"""

import sys

from simulator.cli import main

sys.exit(main())
