"""The queue flags stay editable in waffle's admin, and a percent outside 0-99.9 is refused there."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from waffle.models import Flag

NAME = "taskbridge.queue.podcast"


@pytest.fixture
def operator(client, db):
    client.force_login(get_user_model().objects.create_superuser("root", "root@example.org", "pw"))
    return client


def _edit(client, percent: str, **extra: str):
    """Save the queue's flag (there after migrate) through its admin change page, changing only the percent."""
    flag = Flag.objects.get(name=NAME)
    page = client.get(f"/admin/waffle/flag/{flag.pk}/change/")
    form = page.context["adminform"].form
    data = {}
    for name, bound in form.fields.items():
        value = form[name].value()
        if isinstance(value, list):
            data[name] = [str(v) for v in value]
        elif isinstance(value, bool):
            if value:
                data[name] = "on"
        elif value is None:
            data[name] = "unknown" if name == "everyone" else ""
        else:
            data[name] = str(value) if not hasattr(value, "strftime") else value.strftime("%Y-%m-%d %H:%M:%S")
    for name in ("created", "modified"):
        if name in data:
            data.pop(name)
            data[f"{name}_0"], data[f"{name}_1"] = form[name].value().strftime("%Y-%m-%d"), form[name].value().strftime("%H:%M:%S")
    data.update({"percent": percent, "everyone": "unknown", **extra})
    return client.post(f"/admin/waffle/flag/{flag.pk}/change/", data)


@pytest.mark.parametrize("percent", ["-5", "100", "150", "12.34"])
def test_percent_outside_the_range_is_refused(operator, percent):
    before = Flag.objects.get(name=NAME).percent
    response = _edit(operator, percent)
    assert response.status_code == 200  # the form again, with its error
    assert list(response.context["adminform"].form.errors) == ["percent"]
    assert Flag.objects.get(name=NAME).percent == before


@pytest.mark.parametrize("percent", ["0", "25", "99.9"])
def test_percent_in_range_is_saved_through_waffles_admin(operator, percent):
    # No worker runs in this test: the interlock (tested in test_cockpit) is forced past, with a reason.
    response = _edit(operator, percent, force="on", reason="percent range test")
    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else response
    assert Flag.objects.get(name=NAME).percent == Decimal(percent)
    assert operator.get("/admin/waffle/flag/").status_code == 200
