"""Dash apps that ship with the platform."""
