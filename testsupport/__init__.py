"""Helpers shared by every app's tests: build rooms, members and messages through the
services (factories), and speak the WebSocket protocol (wsclient). At the top, like the
composition package, because the helpers use every app; each app's own factories stay
in its tests (accounts.tests.factories)."""
