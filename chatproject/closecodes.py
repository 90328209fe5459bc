"""WebSocket close codes of the contract, defined once."""

TOO_BIG = 1009  # a frame over 64 KiB
GOING_AWAY_RESTART = 1012  # the server restarts (graceful shutdown)
TOO_SLOW = 4008  # the send buffer overflowed; reconnect and sync
UNAUTHENTICATED = 4401  # no or bad credential, or this device was signed out
DEACTIVATED = 4403  # the account was deactivated
TOO_MANY_CONNECTIONS = 4429  # too many connections for this user
