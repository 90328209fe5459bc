"""Argon2id with its cost read from settings.

Django's defaults (time 2, 100 MiB, 8 lanes) cost about a quarter of a second of CPU per
login, which is right for most servers. Small machines, or load generators that log in
thousands of users, can lower it with ARGON2_TIME_COST / ARGON2_MEMORY_KIB /
ARGON2_PARALLELISM. The cost is stored in each hash, so changing it never breaks a
login; hashes are upgraded to the current cost at the next login.
"""

from django.conf import settings
from django.contrib.auth.hashers import Argon2PasswordHasher


class TunableArgon2PasswordHasher(Argon2PasswordHasher):
    algorithm = "argon2"

    @property
    def time_cost(self) -> int:
        return settings.ARGON2_TIME_COST

    @property
    def memory_cost(self) -> int:
        return settings.ARGON2_MEMORY_KIB

    @property
    def parallelism(self) -> int:
        return settings.ARGON2_PARALLELISM
