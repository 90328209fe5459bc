"""Admin helpers: actions that call a service per object, and ask for a reason first.

`confirm_with_reason`: an admin action that first asks for an optional reason (kept in
the audit log).
The first POST (from the change list) answers an intermediate page listing the selected
objects with a reason field; its submit posts the same action again with `confirm`,
and only then does the action run, with the reason.
"""

from collections.abc import Callable, Iterable

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.db.models import QuerySet
from django.http import HttpRequest
from django.template.response import TemplateResponse

from chatproject.errors import DomainError


def run_each(modeladmin: admin.ModelAdmin, request, items: Iterable, call: Callable, verb: str) -> None:
    """Calls a service per item, reporting refusals (a DomainError) instead of failing the whole batch."""
    done, refused = 0, []
    for item in items:
        try:
            call(item)
            done += 1
        except DomainError as exc:
            refused.append(f"{item}: {exc.detail}")
    if done:
        modeladmin.message_user(request, f"{done} {verb}.", messages.SUCCESS)
    for reason in refused:
        modeladmin.message_user(request, reason, messages.ERROR)


class ReasonForm(forms.Form):
    reason = forms.CharField(
        label="Reason (optional, kept in the audit log)",
        required=False,
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
    )


def confirm_with_reason(
    modeladmin: admin.ModelAdmin,
    request: HttpRequest,
    queryset: QuerySet,
    *,
    title: str,
    run: Callable[[QuerySet, str], None],
):
    """Runs `run(queryset, reason)` once confirmed; until then answers the confirmation page."""
    if request.POST.get("confirm") == "yes":
        form = ReasonForm(request.POST)
        if form.is_valid():
            run(queryset, form.cleaned_data["reason"])
            return None  # back to the change list
    else:
        form = ReasonForm()
    context = {
        **modeladmin.admin_site.each_context(request),
        "title": title,
        "objects": list(queryset[:200]),
        "count": queryset.count(),
        "form": form,
        "action": request.POST.get("action", ""),
        "selected": request.POST.getlist(helpers.ACTION_CHECKBOX_NAME),
        "select_across": request.POST.get("select_across", "0"),
        "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        "opts": modeladmin.model._meta,
    }
    return TemplateResponse(request, "admin/confirm_with_reason.html", context)
