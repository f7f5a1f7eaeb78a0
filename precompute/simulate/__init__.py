"""The SIMULATED world and corpus behind the demo; nothing outside the demo imports it."""
