"""What locustfile.py does not register yet, loaded beside it in the failure tests:

    locust -f locustfile.py,tests/failures/harness_additions.py ...

``scenarios.spend`` (the spend guard's default ceiling and its master-side check) registers on import; the lead
adds the same line to locustfile.py. A second import through sys.modules is a no-op, so this file keeps working
after that.
"""

import scenarios.spend  # noqa: F401  registers on import
