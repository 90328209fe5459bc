from django.db import migrations

INDEX = "messaging_message_body_fts"


def create(apps, schema_editor):
    # Full-text search is PostgreSQL's; SQLite searches with a plain scan.
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS {INDEX} ON messaging_message USING gin (to_tsvector('simple'::regconfig, body))"
        )


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP INDEX IF EXISTS {INDEX}")


class Migration(migrations.Migration):
    dependencies = [("messaging", "0001_initial")]

    operations = [migrations.RunPython(create, drop)]
