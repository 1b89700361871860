from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("taskbridge", "0002_routechange_origin_reason"),
    ]

    operations = [
        migrations.CreateModel(
            name="OutboxDispatch",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("job_id", models.CharField(max_length=200, unique=True)),
                ("backend", models.CharField(max_length=100)),
                ("task", models.CharField(max_length=255)),
                ("message", models.JSONField()),
                ("created", models.DateTimeField(auto_now_add=True, db_index=True)),
                ("attempts", models.PositiveIntegerField(default=0)),
                ("last_error", models.TextField(blank=True)),
            ],
            options={"ordering": ["created", "id"]},
        ),
    ]
