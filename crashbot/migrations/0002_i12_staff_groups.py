"""Staff groups (README "Staff"): "Incident responders" change incidents and components,
"Viewers" only look. Adding a person to a group is all it takes (plus "Staff status")."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

GROUPS = {
    "Incident responders": [
        ("incidents", "incident", ("add", "change", "view")),
        ("incidents", "incidentupdate", ("view",)),
        ("incidents", "component", ("add", "change", "view")),
        ("incidents", "person", ("change", "view")),
        ("crashbot", "scheduledjob", ("view",)),
    ],
    "Viewers": [
        ("incidents", "incident", ("view",)),
        ("incidents", "incidentupdate", ("view",)),
        ("incidents", "component", ("view",)),
        ("incidents", "person", ("view",)),
        ("crashbot", "scheduledjob", ("view",)),
    ],
}


def create_groups(apps, schema_editor):
    # Permissions are normally created after migrate; make sure they exist now.
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, grants in GROUPS.items():
        group, _ = Group.objects.get_or_create(name=name)
        for app_label, model, actions in grants:
            codenames = [f"{action}_{model}" for action in actions]
            group.permissions.add(
                *Permission.objects.filter(content_type__app_label=app_label, codename__in=codenames)
            )


def remove_groups(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=GROUPS).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("crashbot", "0001_i12_scheduled_jobs"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("incidents", "0002_public_read_indexes"),
    ]

    operations = [migrations.RunPython(create_groups, remove_groups)]
