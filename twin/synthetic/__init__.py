"""The sample city's generator: its definition (``city``) and a year of its measurements."""
