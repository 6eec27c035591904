"""One mechanism scopes every admin page to the businesses of the user looking at it.

`ScopedAdmin` is the base of every ModelAdmin of this service: its rows (lists, search, filters
and their choices, change pages, autocomplete, actions, crafted POSTs) come from `get_queryset`,
narrowed by `calls.tenancy.scoped`; what a user may do comes from its role in the row's business,
never from Django's per-model permissions. `ScopedInline` does the same for inlines, and
`role_action` declares the role an action needs, bounds it, confirms it and records it.
"""

import functools
from collections import defaultdict
from dataclasses import dataclass

from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin import FieldListFilter, helpers
from django.contrib.admin.utils import get_fields_from_path
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.html import format_html_join
from django.utils.safestring import mark_safe

from calls.models import Business
from calls.services.action_log import operator_action_record, operator_actions_on
from calls.services.operator_actions import PLURALS, ActionResult
from calls.tenancy import Membership, Role, has_role, is_superuser, role_in, scoped

# A role only superusers hold: adding businesses, raw TwiML, the switch for all dialing.
SUPERUSER = "superuser"


def business_path_of(model) -> str | None:
    """How a row of `model` reaches its business, for models other admins point at."""
    if model is Business:
        return "pk"
    if any(field.name == "business" for field in model._meta.get_fields()):
        return "business"
    return None


def user_may(user, role: str | None, business_id=None, *, anywhere: bool = False) -> bool:
    """Whether `user` holds `role` in that business (in any one with `anywhere`)."""
    if role is None or not (user and user.is_active and user.is_staff):
        return False
    if is_superuser(user):
        return True
    if role == SUPERUSER:
        return False
    if anywhere:
        return has_role(user, role)
    held = role_in(user, business_id)
    return held is not None and Membership.RANK[held] >= Membership.RANK[role]


class ScopedRelatedFilter(admin.RelatedFieldListFilter):
    """A foreign-key filter whose choices are the user's businesses' rows only."""

    def field_choices(self, field, request, model_admin):
        ordering = self.field_admin_ordering(field, request, model_admin)
        related = field.related_model
        path = business_path_of(related)
        if path is None and not is_superuser(request.user):
            return []
        choices = related._default_manager.all()
        if path is not None:
            choices = scoped(choices, request.user, via=path)
        return field.get_choices(
            include_blank=False, ordering=ordering, limit_choices_to={"pk__in": choices}
        )


class ScopedAdmin(admin.ModelAdmin):
    """Rows and rights by membership. Subclasses say how a row reaches its business and which
    role may add, change or delete (None: nobody, superusers included: audit rows)."""

    business_path = "business"
    view_role = Role.VIEWER
    add_role: str | None = None
    change_role: str | None = None
    delete_role: str | None = None
    # Read-only for everyone but superusers (a crafted POST cannot set them: the form omits them).
    superuser_only_fields: tuple = ()
    # Read-only once the row exists (a row never moves to another business).
    readonly_on_change: tuple = ()
    show_full_result_count = False

    def business_id_of(self, obj):
        if self.business_path == "pk":
            return obj.pk
        *hops, last = self.business_path.split("__")
        for hop in hops:
            obj = getattr(obj, hop)
        return getattr(obj, f"{last}_id")

    def _may(self, request, role, obj=None) -> bool:
        if obj is None:
            return user_may(request.user, role, anywhere=True)
        return user_may(request.user, role, self.business_id_of(obj))

    def get_actions(self, request):
        actions = super().get_actions(request)
        # Deleting in bulk is no one's daily job: a row is deleted from its own page, if at all.
        actions.pop("delete_selected", None)
        return actions

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        return scoped(queryset, request.user, role=self.view_role, via=self.business_path)

    def has_module_permission(self, request):
        return self._may(request, self.view_role)

    def has_view_permission(self, request, obj=None):
        return self._may(request, self.view_role, obj)

    def has_add_permission(self, request):
        return self._may(request, self.add_role)

    def has_change_permission(self, request, obj=None):
        return self._may(request, self.change_role, obj)

    def has_delete_permission(self, request, obj=None):
        return self._may(request, self.delete_role, obj)

    # The permissions `role_action` declares, for Django's filtering of the action list.
    def has_role_viewer_permission(self, request):
        return self._may(request, Role.VIEWER)

    def has_role_operator_permission(self, request):
        return self._may(request, Role.OPERATOR)

    def has_role_manager_permission(self, request):
        return self._may(request, Role.MANAGER)

    def has_role_superuser_permission(self, request):
        return self._may(request, SUPERUSER)

    def edit_role(self):
        return self.change_role or self.add_role or self.view_role

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        path = business_path_of(db_field.related_model)
        if path is not None and "queryset" not in kwargs:
            rows = db_field.related_model._default_manager.all()
            kwargs["queryset"] = scoped(rows, request.user, role=self.edit_role(), via=path)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def get_list_filter(self, request):
        fields = {f.name: f for f in self.model._meta.get_fields()}
        return [
            (name, ScopedRelatedFilter)
            if isinstance(name, str) and getattr(fields.get(name), "many_to_one", False)
            else name
            for name in super().get_list_filter(request)
        ]

    def lookup_allowed(self, lookup, value, request=None):
        """Only what the list's filters and date hierarchy read comes from the query string.

        Django accepts any lookup on the model's own fields (`?webhook_secret__regex=^whsec_a`),
        and a count that answers yes or no gives away a field the page never shows, one
        character at a time. Search goes through `q` and the declared search fields."""
        return lookup in self.filter_parameters(request)

    def filter_parameters(self, request) -> set[str]:
        """The query-string parameters this list's filters and date hierarchy declare, read
        from the filters themselves (once per request)."""
        cache = request.__dict__.setdefault("_filter_parameters", {})
        if type(self) not in cache:
            names = set()
            for item in self.get_list_filter(request):
                names.update(self._list_filter(request, item).expected_parameters())
            if self.date_hierarchy:
                names.update(f"{self.date_hierarchy}__{part}" for part in ("year", "month", "day"))
            cache[type(self)] = names
        return cache[type(self)]

    def _list_filter(self, request, item):
        """One filter of the list as ChangeList builds it, given no parameters."""
        if callable(item) and not isinstance(item, str):
            return item(request, {}, self.model, self)
        field_path, make = item if isinstance(item, (list, tuple)) else (item, None)
        field = get_fields_from_path(self.model, field_path)[-1]
        make = make or FieldListFilter.create
        return make(field, request, {}, self.model, self, field_path=field_path)

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        if not is_superuser(request.user):
            fields += self.superuser_only_fields
        if obj is not None:
            fields += self.readonly_on_change
        return list(dict.fromkeys(fields))

    @admin.display(description="operator actions")
    def operator_actions(self, obj):
        """Every recorded action run on this row, newest first."""
        if obj is None or obj.pk is None:
            return "-"
        actions = operator_actions_on(target=self.model._meta.label_lower, object_id=obj.pk)
        lines = [
            (timezone.localtime(a.created_at).strftime("%Y-%m-%d %H:%M:%S"), a.username, a.summary)
            for a in actions[:50]
        ]
        if not lines:
            return "None"
        return format_html_join(mark_safe("<br>"), "{} · {} · {}", lines)

    def action_run(self, request, queryset, spec: "ActionSpec"):
        """Runs an action on the selected rows where the user holds its role: bounded, confirmed
        when it dials, hangs up or cancels, run and recorded once per business."""
        rows = scoped(queryset, request.user, role=spec.role, via=self.business_path)
        count = rows.count()
        outside = queryset.count() - count
        selected = counted(count, spec.row_noun or spec.noun)
        if count > settings.ADMIN_ACTION_MAX_ROWS:
            self.message_user(
                request,
                f"Refused: {selected} selected, and an action runs on at most "
                f"{settings.ADMIN_ACTION_MAX_ROWS} at once (ADMIN_ACTION_MAX_ROWS). "
                "Select fewer, or narrow the list with a filter.",
                messages.ERROR,
            )
            return None
        if count == 0:
            self.message_user(
                request,
                "Nothing done: your role does not allow this on the selected rows.",
                messages.WARNING,
            )
            return None
        if spec.confirm and request.POST.get("post") != "yes":
            return self.action_confirmation(request, rows, spec, count)
        by_business = defaultdict(list)
        path = "pk" if self.business_path == "pk" else f"{self.business_path}_id"
        for pk, business_id in rows.values_list("pk", path):
            by_business[business_id].append(pk)
        total = ActionResult()
        for business_id, ids in sorted(by_business.items()):
            part = spec.func(self, request, self.model._default_manager.filter(pk__in=ids))
            operator_action_record(
                user=request.user,
                business_id=business_id,
                action=spec.func.__name__,
                description=str(spec.description),
                target=self.model._meta.label_lower,
                row_ids=ids,
                summary=part.summary(spec.noun, spec.verb),
            )
            total += part
        if outside:
            total.unchanged["lay outside what your role allows"] += outside
        level = messages.SUCCESS if total.changed else messages.WARNING
        self.message_user(request, total.summary(spec.noun, spec.verb), level)
        return None

    def action_confirmation(self, request, rows, spec, count):
        context = {
            **self.admin_site.each_context(request),
            "title": "Are you sure?",
            "opts": self.model._meta,
            "action": spec.func.__name__,
            "description": spec.description,
            "consequence": spec.confirm.format(rows=counted(count, spec.row_noun or spec.noun)),
            "count": count,
            "rows": list(rows[:20]),
            "more": max(count - 20, 0),
            "selected": list(rows.values_list("pk", flat=True)),
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/calls/confirm_action.html", context)


def counted(count: int, noun: str) -> str:
    return f"{count} {noun if count == 1 else PLURALS.get(noun, f'{noun}s')}"


@dataclass(frozen=True)
class ActionSpec:
    func: object
    role: str
    description: str
    noun: str
    verb: str
    confirm: str = ""
    row_noun: str = ""


def role_action(
    *, role: str, description: str, noun: str, verb: str, confirm: str = "", row_noun: str = ""
):
    """Declares an admin action of a ScopedAdmin. The decorated method gets the rows of one
    business at a time and returns an ActionResult, summarised as "<n> <noun> <verb>".
    `confirm`, when given, is the sentence its confirmation page shows, `{rows}` filled in with
    how many rows are selected ("2 calls": `row_noun`, or else `noun`)."""

    def decorator(func):
        spec = ActionSpec(func, role, description, noun, verb, confirm, row_noun)

        @functools.wraps(func)
        def action(modeladmin, request, queryset):
            return modeladmin.action_run(request, queryset, spec)

        action.allowed_permissions = (f"role_{role}",)
        action.short_description = description
        return action

    return decorator


class ScopedInline(admin.TabularInline):
    """Rows of a parent the user may view, read only (calls, events: what happened)."""

    extra = 0
    can_delete = False

    def _parent_admin(self):
        return self.admin_site.get_model_admin(self.parent_model)

    def has_view_permission(self, request, obj=None):
        return self._parent_admin().has_view_permission(request, obj)

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class SuperuserOnly:
    """For admins outside the tenants' world: the task queue, login throttling, accounts."""

    def has_module_permission(self, request):
        return is_superuser(request.user)

    def has_view_permission(self, request, obj=None):
        return is_superuser(request.user)

    def has_add_permission(self, request, *args):
        return is_superuser(request.user) and super().has_add_permission(request, *args)

    def has_change_permission(self, request, obj=None):
        return is_superuser(request.user) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return is_superuser(request.user) and super().has_delete_permission(request, obj)


def superuser_only_elsewhere(site) -> None:
    """Makes every admin on `site` that membership does not scope (the task queue's, the login
    throttle's, accounts', any app's added later) superusers' only, whatever Django permissions
    a user was granted: a granted "change schedule" would let a member make the worker run any
    function. Runs once every app's admin module has registered (django_q's registers after
    calls', which INSTALLED_APPS lists first)."""
    for model, model_admin in list(site._registry.items()):
        if isinstance(model_admin, (ScopedAdmin, SuperuserOnly)):
            continue
        admin_class = type(model_admin)
        site.unregister(model)
        site.register(model, type(admin_class.__name__, (SuperuserOnly, admin_class), {}))
