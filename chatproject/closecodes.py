"""WebSocket close codes of the wire contract ("Close codes"), one definition each."""

TOO_BIG = 1009  # a frame over 64 KiB; the servers send it themselves (see Makefile, chatproject/testing.py)
SHUTTING_DOWN = 1012  # the server restarts: reconnect
TOO_SLOW = 4008  # the send buffer overflowed: reconnect and sync
UNAUTHENTICATED = 4401  # no or bad credential, or this device was signed out
DEACTIVATED = 4403  # the account was deactivated
TOO_MANY_CONNECTIONS = 4429  # more than WS_MAX_CONNECTIONS_PER_USER sockets for this user
