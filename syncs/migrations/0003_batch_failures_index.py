from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("syncs", "0002_engine_fields")]

    operations = [
        migrations.AddIndex(
            model_name="syncbatch",
            index=models.Index(fields=["status", "run", "sequence"], name="syncbatch_status_run_seq_idx"),
        ),
    ]
