"""Monte Carlo forecasts of users, revenue, margin and cash for hosted agent environments."""

__version__ = "0.1.0"
