"""Reads run results, decides verdicts, draws plots, writes reports. Imports nothing from scenarios/harness/simulator."""
