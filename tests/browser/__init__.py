"""Browser tests: Debian's Chromium through Playwright against the live platform."""
