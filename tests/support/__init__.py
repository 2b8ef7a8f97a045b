"""Helpers shared by tests of every package: free ports, test hosts in network namespaces, Locust processes."""
