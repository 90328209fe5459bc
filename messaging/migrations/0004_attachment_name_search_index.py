from django.db import migrations

INDEX = "messaging_attachment_name_fts"


def create(apps, schema_editor):
    # Search finds attachments by file name: "Q3-report.pdf" is indexed as "q3 report pdf".
    # messaging.search.NameVector renders exactly this expression, so the planner uses the index.
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS {INDEX} ON messaging_attachment "
            "USING gin (to_tsvector('simple'::regconfig, translate(name, '._-', '   ')))"
        )


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP INDEX IF EXISTS {INDEX}")


class Migration(migrations.Migration):
    dependencies = [("messaging", "0003_attachment")]

    operations = [migrations.RunPython(create, drop)]
