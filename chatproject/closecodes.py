"""WebSocket close codes of the wire contract ("Close codes"), defined once."""

CLOSE_TOO_BIG = 1009  # a frame over 64 KiB
CLOSE_SERVICE_RESTART = 1012  # graceful shutdown: reconnect elsewhere
CLOSE_TOO_SLOW = 4008  # the send buffer overflowed: reconnect and sync
CLOSE_UNAUTHENTICATED = 4401  # no or bad credential, or this device was signed out
CLOSE_DEACTIVATED = 4403  # the account was deactivated
CLOSE_TOO_MANY = 4429  # too many connections for this user
