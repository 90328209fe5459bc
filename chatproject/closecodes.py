"""WebSocket close codes the server uses, one definition each (see CONTRACT.md "Close codes")."""

TOO_BIG = 1009  # a frame over 64 KiB
SERVICE_RESTART = 1012  # this process is shutting down: reconnect (elsewhere) and sync
TRY_AGAIN_LATER = 1013  # the database was unreachable while the socket opened: reconnect a moment later
TOO_SLOW = 4008  # the send buffer overflowed: reconnect and sync
UNAUTHENTICATED = 4401  # no or bad credential, or this device was signed out
DEACTIVATED = 4403  # the account was deactivated
TOO_MANY_CONNECTIONS = 4429  # too many connections for this user
