"""Integration tests: the real Keycloak and platform started by tests/conftest.py."""
