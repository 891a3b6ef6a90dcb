"""Uploads logged and applied on read; the audience keeps its member counts; two member indexes dropped.

The member table loses its index on `audience` (the unique (audience, row_key) index
serves the same lookups) and its (audience, matched) index (the counts now live on the
audience). Existing audiences get their counts from their members.
"""

import django.db.models.deletion
from django.db import migrations, models
from django.db.models import Count, Q


def counts_fill(apps, schema_editor):
    Audience = apps.get_model("sandbox", "SandboxAudience")
    Member = apps.get_model("sandbox", "SandboxAudienceMember")
    counts = Member.objects.values("audience_id").annotate(rows=Count("pk"), matched=Count("pk", filter=Q(matched=True)))
    for row in counts:
        Audience.objects.filter(pk=row["audience_id"]).update(rows_held=row["rows"], rows_matched=row["matched"])


class Migration(migrations.Migration):

    dependencies = [
        ('sandbox', '0003_fault_throttle_codes_ads'),
    ]

    operations = [
        migrations.CreateModel(
            name='SandboxUploadLog',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('operation', models.CharField(choices=[('add', 'Add (POST users)'), ('remove', 'Remove (DELETE users)'), ('replace', 'Replace (usersreplace)')], max_length=10)),
                ('session_id', models.BigIntegerField(blank=True, null=True)),
                ('batch_seq', models.PositiveIntegerField(blank=True, null=True)),
                ('wipe_before', models.BooleanField(default=False, help_text='The first batch of a replace: empty the audience first.')),
                ('finish_after', models.BooleanField(default=False, help_text='A replace session ended: then keep only the rows it sent.')),
                ('population_size', models.PositiveIntegerField()),
                ('matched_keys', models.BinaryField()),
                ('unmatched_keys', models.BinaryField()),
                ('received_at', models.DateTimeField(auto_now_add=True)),
            ],
            options={
                'verbose_name': 'upload log entry',
                'verbose_name_plural': 'upload log',
            },
        ),
        migrations.RemoveIndex(
            model_name='sandboxaudiencemember',
            name='sandbox_member_matched',
        ),
        migrations.AddField(
            model_name='sandboxaudience',
            name='rows_held',
            field=models.PositiveIntegerField(default=0, editable=False),
        ),
        migrations.AddField(
            model_name='sandboxaudience',
            name='rows_matched',
            field=models.PositiveIntegerField(default=0, editable=False),
        ),
        migrations.RunPython(counts_fill, migrations.RunPython.noop),
        migrations.AlterField(
            model_name='sandboxaudiencemember',
            name='audience',
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='members', to='sandbox.sandboxaudience'),
        ),
        migrations.AddField(
            model_name='sandboxuploadlog',
            name='audience',
            field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='upload_log', to='sandbox.sandboxaudience'),
        ),
    ]
