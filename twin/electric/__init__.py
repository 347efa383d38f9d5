"""The electric twin: pandapower network, power flow, and (later) QSTS, losses, N-1."""
