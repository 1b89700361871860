from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("taskbridge", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="routechange",
            name="origin",
            field=models.CharField(
                choices=[("admin", "Django admin (flag form)"), ("cockpit", "cutover page"), ("command", "manage.py taskbridge route"), ("guard", "guard"), ("code", "code (set_route)")],
                default="admin",
                max_length=20,
            ),
        ),
        migrations.AddField(
            model_name="routechange",
            name="reason",
            field=models.TextField(blank=True),
        ),
    ]
