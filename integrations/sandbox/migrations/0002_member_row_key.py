"""Members keyed by a 64-bit row digest instead of 32 bytes: a smaller unique index, faster inserts.

The new key is the first 8 bytes of the old digest, so existing sandbox audiences keep
their members.
"""

from django.db import migrations, models


def copy_keys(apps, schema_editor):
    Member = apps.get_model("sandbox", "SandboxAudienceMember")
    batch = []
    for member in Member.objects.only("pk", "row_digest").iterator(chunk_size=5000):
        member.row_key = int.from_bytes(bytes(member.row_digest)[:8], "big", signed=True)
        batch.append(member)
        if len(batch) >= 5000:
            Member.objects.bulk_update(batch, ["row_key"])
            batch.clear()
    if batch:
        Member.objects.bulk_update(batch, ["row_key"])


class Migration(migrations.Migration):
    dependencies = [("sandbox", "0001_initial")]

    operations = [
        migrations.RemoveConstraint(model_name="sandboxaudiencemember", name="sandbox_member_unique_row"),
        migrations.AddField(
            model_name="sandboxaudiencemember",
            name="row_key",
            field=models.BigIntegerField(null=True),
        ),
        migrations.RunPython(copy_keys, migrations.RunPython.noop),
        migrations.RemoveField(model_name="sandboxaudiencemember", name="row_digest"),
        migrations.AlterField(
            model_name="sandboxaudiencemember",
            name="row_key",
            field=models.BigIntegerField(help_text="First 8 bytes of the SHA-256 of the row, as a signed integer."),
        ),
        migrations.AddConstraint(
            model_name="sandboxaudiencemember",
            constraint=models.UniqueConstraint(fields=("audience", "row_key"), name="sandbox_member_unique_key"),
        ),
    ]
