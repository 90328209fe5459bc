"""The audit log's one writer. Services call it inside their transaction, so an act
and its record commit (or roll back) together; no door writes entries itself."""

from accounts.models import AuditLog, User

Kind = AuditLog.Kind
SUMMARY_MAX = 300


def audit_record(
    *,
    actor: User | None,
    kind: str,
    target_user: User | int | None = None,
    room_id: int | None = None,
    message_id: int | None = None,
    summary: str = "",
    reason: str = "",
) -> AuditLog:
    """Trusts its caller (a service) to have checked that the act was allowed."""
    target_id = target_user.pk if isinstance(target_user, User) else target_user
    return AuditLog.objects.create(
        actor=actor if actor is not None and actor.pk else None,
        kind=kind,
        target_user_id=target_id,
        room_id=room_id,
        message_id=message_id,
        summary=summary[:SUMMARY_MAX],
        reason=(reason or "").strip(),
    )
