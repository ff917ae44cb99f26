"""dash-platform: the command line client of the Dash app platform (no server code)."""

__version__ = "0.1.0"
