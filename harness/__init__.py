"""Generic Locust plumbing and the launcher."""

# The harness's version: a master refuses workers of another version (harness/workers.py). Raise it whenever the
# results formats, the messages between master and workers, or the launcher's contract change.
__version__ = "0.3.0"
