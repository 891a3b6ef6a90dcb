"""An index for the batch log's "failures" filter across runs (status, then the list's order).

Index only, in SQL that SQLite and PostgreSQL share: the model's state is unchanged, so the
engine's writes and `makemigrations --check` are unaffected. Batches are one row per
request (10,000 members), so the extra index costs the engine nothing measurable.
"""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("syncs", "0002_engine_fields")]

    operations = [
        migrations.RunSQL(
            "CREATE INDEX syncbatch_status_run_seq_idx ON syncs_syncbatch (status, run_id, sequence)",
            reverse_sql="DROP INDEX syncbatch_status_run_seq_idx",
        ),
    ]
