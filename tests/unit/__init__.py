"""Unit tests: the portal, the apps and the CLI in-process, no Keycloak."""
