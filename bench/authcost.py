"""What refusing signed-out devices at once costs on the REST send path (a focused micro-measure).

Runs in-process against the database in DATABASE_URL (inside one transaction that is rolled
back, so it leaves nothing behind): the same `POST rooms/{id}/messages/` through Django's
full middleware and DRF stack, alternating between an access token with a device claim
(the device check rides in the user lookup as an EXISTS) and one without (the plain
simplejwt lookup, as before devices existed). Prints the median and p90 per request.

    DATABASE_URL=postgres://... .venv/bin/python -m bench.authcost [--sends 400]
"""

import argparse
import os
import statistics
import time


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sends", type=int, default=400, help="sends per variant")
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatproject.settings")
    os.environ.setdefault("THROTTLE_DISABLED", "1")
    import django

    django.setup()
    from django.conf import settings
    from django.db import transaction
    from rest_framework.test import APIClient
    from rest_framework_simplejwt.tokens import AccessToken

    from accounts import devices
    from accounts.models import User
    from rooms import services as rooms

    settings.ALLOWED_HOSTS = ["*"]
    with transaction.atomic():
        user = User.objects.create(username=f"authcost-{os.getpid()}", email=f"authcost-{os.getpid()}@example.com")
        room = rooms.room_create(creator=user, name="authcost", kind="public")
        with_device = devices.tokens_for_user(user, user_agent="authcost")["access"]
        without_device = str(AccessToken.for_user(user))
        clients = {}
        for name, token in (("device claim", with_device), ("no claim", without_device)):
            client = APIClient()
            client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
            clients[name] = client
        url = f"/api/v1/rooms/{room.pk}/messages/"
        timings: dict[str, list[float]] = {name: [] for name in clients}
        for n in range(args.sends + 20):
            # Alternate which variant goes first, so neither gains from the other's warm-up.
            order = list(clients.items()) if n % 2 else list(reversed(clients.items()))
            for name, client in order:
                started = time.perf_counter()
                response = client.post(url, {"body": f"m{n}"}, format="json")
                elapsed = time.perf_counter() - started
                assert response.status_code == 201, response.content
                if n >= 20:  # warm-up: connections, compiled statements, caches
                    timings[name].append(elapsed)
        lookups = _lookup_costs(user, with_device, without_device, args.sends * 5)
        transaction.set_rollback(True)
    engine = settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1]
    print(f"REST send, {args.sends} per variant, in-process, {engine}:")
    for name, values in timings.items():
        values.sort()
        p90 = values[int(len(values) * 0.9)]
        print(f"  {name:13s} median {statistics.median(values) * 1000:7.3f} ms   p90 {p90 * 1000:7.3f} ms")
    delta = statistics.median(timings["device claim"]) - statistics.median(timings["no claim"])
    print(f"  difference of medians: {delta * 1000:+.3f} ms per send")
    print(f"  the user lookup alone, {args.sends * 5} each:")
    for name, cost in lookups.items():
        print(f"  {name:13s} median {cost * 1000:7.3f} ms")


def _lookup_costs(user, with_device: str, without_device: str, rounds: int) -> dict[str, float]:
    """The authenticator's database step by itself: the statement that now carries the EXISTS."""
    from rest_framework_simplejwt.authentication import JWTAuthentication

    from accounts.authentication import DeviceJWTAuthentication

    ours, plain = DeviceJWTAuthentication(), JWTAuthentication()
    variants = {
        "device claim": (ours, ours.get_validated_token(with_device.encode())),
        "simplejwt": (plain, plain.get_validated_token(without_device.encode())),
    }
    timings: dict[str, list[float]] = {name: [] for name in variants}
    for n in range(rounds):
        order = list(variants.items()) if n % 2 else list(reversed(variants.items()))
        for name, (auth, token) in order:
            started = time.perf_counter()
            assert auth.get_user(token).pk == user.pk
            timings[name].append(time.perf_counter() - started)
    return {name: statistics.median(values) for name, values in timings.items()}


if __name__ == "__main__":
    main()
