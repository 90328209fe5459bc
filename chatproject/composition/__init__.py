"""Cross-app composition: what combines several apps lives here, above all of them.

The room list with each room's last message (rooms + messaging), the layout around
every chat page (room list, presence, notification count), the pages and REST views
that show those. Apps never import this package; the wiring (chatproject/urls.py)
does. See docs/architecture.md.
"""
