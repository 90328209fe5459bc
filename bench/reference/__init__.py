"""Reference server: a bare tutorial-style Channels broadcast consumer."""
