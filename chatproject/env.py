"""Every setting that comes from the environment is read here, and only here."""

import os
import secrets
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("VAR_DIR", BASE_DIR / "var"))

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError(f"{name} must be a boolean (1/0, true/false), got {raw!r}")


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None:
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    return default if raw in (None, "") else int(raw)


def env_float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    return default if raw in (None, "") else float(raw)


def env_rate(name: str, default: str) -> tuple[int, int] | None:
    """A rate `COUNT/SECONDS` (`30/10`: 30 per 10 seconds) as (count, seconds); `off` or `0` is None."""
    raw = os.environ.get(name, default).strip().lower()
    if raw in ("off", "0", "none", ""):
        return None
    count, sep, seconds = raw.partition("/")
    if not (sep and count.isdigit() and seconds.isdigit() and int(count) > 0 and int(seconds) > 0):
        raise ValueError(f"{name} must be COUNT/SECONDS (e.g. 30/10) or off, got {raw!r}")
    return int(count), int(seconds)


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def shared_secret_key(path: Path) -> str:
    """The key in `path`, made there by whichever process comes first (SECRET_KEY_FILE).

    For deployments that share a volume (docker-compose): no secret has to be written by
    hand, and every process of the deployment signs with the same key. O_EXCL makes two
    processes starting at once agree on one key.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    else:
        with os.fdopen(fd, "w") as key_file:
            key_file.write(secrets.token_urlsafe(50))
    return path.read_text().strip()


def development_secret_key() -> str:
    """A per-checkout secret, so sessions survive restarts of `make run`."""
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    path = VAR_DIR / "dev-secret-key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()
