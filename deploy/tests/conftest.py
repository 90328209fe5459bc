# The browser tests' fixtures: a server (daphne on the test database) that can restart, and Chromium.
from messaging.tests.test_browser import browser, migrated_sqlite, server  # noqa: F401
