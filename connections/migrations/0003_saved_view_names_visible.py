"""Saved-view names stored before names lost their invisible characters (control and
format characters, line and paragraph separators: issue 12) get the same cleaning, so
no view shows another user a bidi override. A cleaned name that collides with one of the
owner's other names gets " (2)", " (3)"...; one with nothing left is "Unnamed view"."""

import unicodedata

from django.db import migrations

INVISIBLE = {"Cc", "Cf", "Zl", "Zp"}  # as connections.services.INVISIBLE, frozen here
MAX_NAME = 100


def _visible(name):
    return "".join(ch for ch in name if unicodedata.category(ch) not in INVISIBLE).strip()


def clean_names(apps, schema_editor):
    SavedView = apps.get_model("connections", "SavedView")
    for view in SavedView.objects.all().order_by("id").iterator():
        cleaned = _visible(view.name) or "Unnamed view"
        if cleaned == view.name:
            continue
        taken = {
            n.lower()
            for n in SavedView.objects.filter(owner_id=view.owner_id)
            .exclude(pk=view.pk)
            .values_list("name", flat=True)
        }
        name, n = cleaned, 2
        while name.lower() in taken:
            suffix = f" ({n})"
            name, n = cleaned[: MAX_NAME - len(suffix)] + suffix, n + 1
        view.name = name
        view.save(update_fields=["name"])


class Migration(migrations.Migration):
    dependencies = [
        ("connections", "0002_apiclient_order_ignoring_case"),
    ]

    operations = [migrations.RunPython(clean_names, migrations.RunPython.noop)]
