"""The database is the truth: every scenario ends by comparing it with what clients were told and saw."""

from collections import Counter
from dataclasses import dataclass

from messaging.models import Message
from reliability.clients import ChatClient, SendLog
from rooms.models import Room


@dataclass
class RoomAudit:
    messages: int
    acked: int
    lost: int  # acked but not in the database
    duplicates: int  # one logical send stored more than once
    gaps: int  # seqs missing between 1 and the room's last_seq
    stray: int  # stored messages no sender attempted (or refused for good, then stored)
    view_mismatches: int  # clients whose synced view differs from the database

    def assert_clean(self) -> None:
        assert (self.lost, self.duplicates, self.gaps, self.stray, self.view_mismatches) == (0, 0, 0, 0, 0), self


def audit_room(room_id: int, logs: list[SendLog], clients: list[ChatClient]) -> RoomAudit:
    rows = list(Message.objects.filter(room_id=room_id).values_list("seq", "id", "sender_id", "client_id", "body"))
    last_seq = Room.objects.get(pk=room_id).last_seq
    seqs = sorted(seq for seq, *_ in rows)
    gaps = len(set(range(1, last_seq + 1)) - set(seqs)) + (len(seqs) - len(set(seqs)))
    stored_ids = {message_id for _, message_id, *_ in rows}
    acked = {message_id for log in logs for message_id in log.acked.values()}
    pairs = Counter((sender_id, client_id) for _, _, sender_id, client_id, _ in rows if client_id)
    bodies = Counter(body for *_, body in rows)
    duplicates = sum(n - 1 for n in pairs.values() if n > 1) + sum(n - 1 for n in bodies.values() if n > 1)
    attempted = {client_id for log in logs for client_id in log.attempted}
    refused_for_good = {
        client_id for log in logs for client_id, codes in log.refused.items() if client_id not in log.acked
    }
    stray = sum(
        1 for *_, client_id, _ in rows if client_id and (client_id not in attempted or client_id in refused_for_good)
    )
    truth = {seq: message_id for seq, message_id, *_ in rows}
    mismatches = sum(1 for client in clients if client.view(room_id).by_seq != truth)
    return RoomAudit(len(rows), len(acked), len(acked - stored_ids), duplicates, gaps, stray, mismatches)
