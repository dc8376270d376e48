"""The sandbox: a simulated internet on loopback (see world.py, server.py)."""
