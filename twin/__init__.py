"""CityTwin: a digital twin of a city's electricity and water networks."""

__version__ = "0.1.0"
