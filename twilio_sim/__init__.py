"""A standalone local Twilio: Calls REST API and signed callbacks, for dev, demo, tests, benchmarks.

Start it with ``python -m twilio_sim`` or in-process with ``twilio_sim.server.Simulator``;
drive and inspect it with ``twilio_sim.control.SimControl``. It never imports Django.
"""
