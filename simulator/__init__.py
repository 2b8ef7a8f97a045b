"""The embedded ProspectPro stand-in: `python -m simulator` (a separate process from Locust).

It serves ProspectPro's Supabase surface (GoTrue auth, edge functions, a PostgREST subset) with realistic latencies,
a finite capacity and fault profiles, and counts what it served. It imports nothing from the rest of the project.
"""
