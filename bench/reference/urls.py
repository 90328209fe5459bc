"""The reference server serves no HTTP views."""

urlpatterns: list[object] = []
