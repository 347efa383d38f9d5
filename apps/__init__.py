"""Panel apps of the twin. They call the library (``twin.scenario``) and compute nothing themselves.

Run the dashboard with ``panel serve apps/dashboard.py``.
"""
