from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('taskbridge', '0003_outbox'),
    ]

    operations = [
        migrations.CreateModel(
            name='Cutover',
            fields=[
            ],
            options={
                'verbose_name': 'cutover cockpit',
                'verbose_name_plural': 'cutover cockpit',
                'proxy': True,
                'default_permissions': ('view',),
                'indexes': [],
                'constraints': [],
            },
            bases=('taskbridge.routechange',),
        ),
        migrations.AddField(
            model_name='routechange',
            name='forced',
            field=models.BooleanField(default=False, help_text='Made although the interlock refused it (no live worker).'),
        ),
    ]
