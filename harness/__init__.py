"""Generic Locust plumbing and the launcher."""
