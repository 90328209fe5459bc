"""Search: only the caller's rooms, best first, highlighted, paged, never deleted messages; on the index."""

import pytest
from django.db import connection

from conftest import needs_services
from messaging import services as messaging
from messaging.models import Attachment, Message
from messaging.search import highlight, matching_messages, messages_with_files_named
from messaging.tests.filesamples import PDF, upload
from rooms import services as rooms

pytestmark = pytest.mark.django_db

URL = "/api/v1/search/messages/"


@pytest.fixture
def rooms_with_talk(make_user):
    alice, bob, eve = make_user("alice"), make_user("bob"), make_user("eve")
    general = rooms.room_create(creator=alice, name="general", kind="public")
    rooms.room_join(user=bob, room_id=general.pk)
    secret = rooms.room_create(creator=eve, name="secret", kind="private")
    send = messaging.message_send
    send(sender=alice, room_id=general.pk, body="The deploy is done")
    send(sender=bob, room_id=general.pk, body="Deploying the <b>new</b> release of the deployment tool")
    gone = send(sender=bob, room_id=general.pk, body="deploy secrets leaked").message
    messaging.message_delete(actor=bob, message_id=gone.pk)
    send(sender=eve, room_id=secret.pk, body="deploy plans nobody else may read")
    return alice, bob, eve, general, secret


def test_finds_matches_in_my_rooms_only_with_highlight(api, rooms_with_talk):
    alice, _, _, general, _ = rooms_with_talk
    response = api.as_user(alice).get(URL, {"q": "deploy"})
    assert response.status_code == 200
    page = response.json()
    assert page["has_more"] is False and page["next_cursor"] is None
    bodies = sorted(r["message"]["body"] for r in page["results"])
    assert bodies == ["Deploying the <b>new</b> release of the deployment tool", "The deploy is done"]
    assert all(r["room"] == general.pk for r in page["results"])
    snippet = next(r["snippet"] for r in page["results"] if "release" in r["message"]["body"])
    assert "&lt;b&gt;new&lt;/b&gt;" in snippet and "<b>" not in snippet
    assert "<mark>Deploy</mark>" in snippet


def test_room_filter_and_hidden_rooms(api, rooms_with_talk):
    alice, _, eve, general, secret = rooms_with_talk
    assert api.as_user(alice).get(URL, {"q": "deploy", "room": secret.pk}).json()["results"] == []
    assert len(api.as_user(eve).get(URL, {"q": "plans", "room": secret.pk}).json()["results"]) == 1
    assert api.as_user(eve).get(URL, {"q": "deploy", "room": general.pk}).json()["results"] == []


def test_bad_queries(api, rooms_with_talk):
    alice = rooms_with_talk[0]
    client = api.as_user(alice)
    assert client.get(URL, {"q": ""}).status_code == 400
    assert client.get(URL, {"q": "x", "room": "abc"}).status_code == 400
    assert client.get(URL, {"q": "x", "room": str(2**63)}).status_code == 400
    assert "cursor" in client.get(URL, {"q": "x", "cursor": "not-a-cursor"}).json()
    assert client.get(URL, {"q": "x", "cursor": "nan_3"}).status_code == 400
    assert client.get(URL, {"q": "x", "limit": "51"}).status_code == 400
    assert client.get(URL, {"q": "!!!"}).json()["results"] == []
    # PostgreSQL refuses NUL in a query's text: it used to be a 500.
    assert client.get(URL, {"q": "deploy\x00"}).status_code == 200
    assert client.get(URL, {"q": "\x00"}).status_code == 400
    assert api.as_user(None).get(URL, {"q": "deploy"}).status_code == 401


def test_pages_with_the_cursor_cover_every_match_once_best_first(api, make_user):
    alice = make_user("alice")
    room = rooms.room_create(creator=alice, name="ops", kind="public")
    # Ranks differ (one, two or three mentions of the word) and tie within each group.
    for n in range(9):
        body = " ".join(["release"] * (n % 3 + 1)) + f" note {n}"
        messaging.message_send(sender=alice, room_id=room.pk, body=body)
    messaging.message_send(sender=alice, room_id=room.pk, body="nothing to see")
    client, seen, cursor = api.as_user(alice), [], None
    for _ in range(5):
        page = client.get(URL, {"q": "release", "limit": 4, **({"cursor": cursor} if cursor else {})}).json()
        seen += [r["message"]["id"] for r in page["results"]]
        cursor = page["next_cursor"]
        if not page["has_more"]:
            assert cursor is None
            break
    assert len(seen) == len(set(seen)) == 9
    everything = client.get(URL, {"q": "release", "limit": 50}).json()["results"]
    assert [r["message"]["id"] for r in everything] == seen
    if connection.vendor == "postgresql":
        # Three mentions rank above one; within a rank the newest comes first.
        counts = [r["message"]["body"].count("release") for r in everything]
        assert counts == sorted(counts, reverse=True)
        assert everything[0]["message"]["body"].startswith("release release release note 8")


def test_highlight_escapes_and_marks_every_match():
    text = highlight("a <i>Deploy</i> then deploy again", ["deploy"])
    assert text == "a &lt;i&gt;<mark>Deploy</mark>&lt;/i&gt; then <mark>deploy</mark> again"


# --- around: a search result in its context ----------------------------------------------------------
@pytest.fixture
def long_room(make_user):
    alice, outsider = make_user("alice"), make_user("mallory")
    room = rooms.room_create(creator=alice, name="long", kind="private")
    for n in range(1, 31):
        messaging.message_send(sender=alice, room_id=room.pk, body=f"message {n}")
    return alice, outsider, room


def history(api, user, room, **params):
    return api.as_user(user).get(f"/api/v1/rooms/{room.pk}/messages/", params)


def test_around_centres_the_page_on_the_message(api, long_room):
    alice, _, room = long_room
    page = history(api, alice, room, around=15, limit=5).json()
    assert [m["seq"] for m in page["results"]] == [13, 14, 15, 16, 17]
    assert page["has_more_before"] and page["has_more_after"] and page["has_more"]


def test_around_near_the_ends_fills_from_the_other_side(api, long_room):
    alice, _, room = long_room
    start = history(api, alice, room, around=2, limit=6).json()
    assert [m["seq"] for m in start["results"]] == [1, 2, 3, 4, 5, 6]
    assert start["has_more_before"] is False and start["has_more_after"] is True
    end = history(api, alice, room, around=30, limit=6).json()
    assert [m["seq"] for m in end["results"]] == [25, 26, 27, 28, 29, 30]
    assert end["has_more_before"] is True and end["has_more_after"] is False
    whole = history(api, alice, room, around=10).json()  # default limit 50 holds all 30
    assert [m["seq"] for m in whole["results"]] == list(range(1, 31))
    assert whole["has_more"] is False


def test_around_rules(api, long_room):
    alice, outsider, room = long_room
    assert history(api, outsider, room, around=3).status_code == 404
    assert history(api, alice, room, around=3, before=10).status_code == 400
    assert history(api, alice, room, around="x").status_code == 400
    assert history(api, alice, room, around=2**63).status_code == 400
    assert history(api, alice, room, around=3, limit=201).status_code == 400
    # Past the end: the newest page, nothing newer.
    beyond = history(api, alice, room, around=99, limit=3).json()
    assert [m["seq"] for m in beyond["results"]] == [28, 29, 30] and beyond["has_more_after"] is False


def test_around_query_count(api, long_room, django_assert_num_queries):
    alice, _, room = long_room
    client = api.as_user(alice)
    # auth user, visible room, older half, newer half, markers
    # user, room, membership check, older half and newer half (each with its attachments), two marker floors
    with django_assert_num_queries(9):
        assert client.get(f"/api/v1/rooms/{room.pk}/messages/", {"around": 15, "limit": 9}).status_code == 200


# --- file names -------------------------------------------------------------------------------------
@pytest.mark.usefixtures("media_root")
def test_attachment_file_names_are_found_too(api, make_user):
    alice, bob = make_user("alice"), make_user("bob")
    room = rooms.room_create(creator=alice, name="files", kind="public")
    rooms.room_join(user=bob, room_id=room.pk)
    report = messaging.attachment_upload(uploader=alice, file=upload("Q3-Budget_final.pdf", PDF))
    unused = messaging.attachment_upload(uploader=alice, file=upload("budget-draft.pdf", PDF))
    sent = messaging.message_send(sender=alice, room_id=room.pk, body="", attachments=[report["id"]]).message
    messaging.message_send(sender=alice, room_id=room.pk, body="no files here, just talk")
    page = api.as_user(bob).get(URL, {"q": "budget"}).json()
    # Found by its file name (word by word, prefixes too); an unused upload is nobody's result.
    assert [r["message"]["id"] for r in page["results"]] == [sent.pk]
    assert page["results"][0]["message"]["attachments"][0]["id"] == report["id"]
    assert page["results"][0]["snippet"] == "Q3-<mark>Budget</mark>_final.pdf"
    assert [r["message"]["id"] for r in api.as_user(bob).get(URL, {"q": "final pdf"}).json()["results"]] == [sent.pk]
    assert api.as_user(bob).get(URL, {"q": "draft"}).json()["results"] == []
    assert unused["id"] != report["id"]
    # Deleting the message takes its file out of search.
    messaging.message_delete(actor=alice, message_id=sent.pk)
    assert api.as_user(bob).get(URL, {"q": "budget"}).json()["results"] == []


# --- the index ---------------------------------------------------------------------------------------
def test_plan_uses_the_gin_indexes_on_ten_thousand_messages(make_user):
    needs_services(postgres=True)
    alice = make_user("alice")
    room = rooms.room_create(creator=alice, name="busy", kind="public")
    table, files = Message._meta.db_table, Attachment._meta.db_table
    with connection.cursor() as cursor:
        # 10,001 ordinary messages and two with a rare word, written in one statement; every
        # message carries a file, one of them named with the rare word.
        cursor.execute(
            f"INSERT INTO {table} (room_id, seq, sender_id, body, client_id, created_at, deleted)"
            " SELECT %s, n, %s, CASE WHEN n %% 4000 = 0 THEN 'the zephyrine outage report ' || n"
            " ELSE 'ordinary chatter number ' || n || ' about lunch and builds' END, '', now(), false"
            " FROM generate_series(1, 10003) AS n",
            [room.pk, alice.pk],
        )
        cursor.execute(
            f"INSERT INTO {files} (uploader_id, message_id, position, file, name, size, content_type, thumbnail,"
            " created_at)"
            f" SELECT %s, id, 0, 'attachments/x/' || id, CASE WHEN seq = 777 THEN 'Zephyrine-plan.pdf'"
            " ELSE 'scan-' || seq || '.pdf' END, 100, 'application/pdf', '', now()"
            f" FROM {table} WHERE room_id = %s",
            [alice.pk, room.pk],
        )
        cursor.execute("UPDATE rooms_room SET last_seq = 10003 WHERE id = %s", [room.pk])
        cursor.execute(f"ANALYZE {table}")
        cursor.execute(f"ANALYZE {files}")
    found = matching_messages(room_ids=[room.pk], terms=["zephyrine"])
    plan = found[:20].explain()
    # Seq scans stay enabled: the planner picks the indexes because they are cheaper, as in production.
    assert "messaging_message_body_fts" in plan, plan
    assert "Seq Scan" not in plan, plan
    # File names: their own index gives the ids that the message query above takes by primary key.
    names_plan = messages_with_files_named(["zephyrine"])[:1000].explain()
    assert "messaging_attachment_name_fts" in names_plan and "Seq Scan" not in names_plan, names_plan
    assert [m.seq for m in found] == [8000, 4000, 777]
    # ts_rank is computed for the matches only: the filter is the indexed @@, never `rank > 0`.
    sql = str(found.query)
    assert "@@" in sql and "ts_rank" in sql and "COALESCE" not in sql
    assert 'to_tsvector(\'simple\'::regconfig, "messaging_message"."body")' in sql
