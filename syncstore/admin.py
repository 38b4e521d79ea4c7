"""The operator's screens for sync state: datasets with their records, usage per pool with
each pool's dashboard, devices; and identity's pool and identity screens with the data they
lead to. Records are read-only here; deleting a dataset goes through the service."""

import json
from datetime import date

from django.contrib import admin
from django.contrib.admin.utils import quote, unquote
from django.core.exceptions import PermissionDenied
from django.core.serializers.json import DjangoJSONEncoder
from django.db.models import Count, Max, Q, Sum
from django.http import Http404, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html

from identity import admin as identity_admin
from identity.models import Identity, IdentityPool
from syncstore import operations, services
from syncstore.models import (
    BulkPublish,
    Dataset,
    Device,
    JobRun,
    PoolSyncConfig,
    PoolUsage,
    Record,
    StreamRecord,
    Subscription,
)

PREVIEW = 80


class RecordInline(admin.TabularInline):
    model = Record
    fields = (
        "key",
        "preview",
        "sync_count",
        "tombstone",
        "modified",
        "modified_by",
        "device_modified",
        "take",
    )
    readonly_fields = fields
    extra = 0
    can_delete = False
    ordering = ["key"]

    def has_add_permission(self, request, obj=None):
        return False

    @admin.display(description="value")
    def preview(self, record):
        if record.value is None:
            return "—"
        if len(record.value) > PREVIEW:
            return record.value[:PREVIEW] + f"… ({len(record.value)} characters)"
        return record.value

    @admin.display(boolean=True)
    def tombstone(self, record):
        return record.value is None

    @admin.display(description="")
    def take(self, record):
        if not record.dataset.merge_root or record.value is None:
            return ""
        return format_html(
            '<button type="submit" formaction="take/" name="take_key" value="{}">'
            "Take into {}</button>",
            record.key,
            record.dataset.merge_root,
        )


class ExistsFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [("live", "live"), ("deleted", "deleted")]

    def queryset(self, request, queryset):
        if self.value() == "live":
            return queryset.filter(deleted__isnull=True)
        if self.value() == "deleted":
            return queryset.filter(deleted__isnull=False)
        return queryset


class MergedFilter(admin.SimpleListFilter):
    title = "made by a merge"
    parameter_name = "merged"

    def lookups(self, request, model_admin):
        return [("yes", "yes"), ("no", "no")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.exclude(merge_root="")
        if self.value() == "no":
            return queryset.filter(merge_root="")
        return queryset


@admin.register(Dataset)
class DatasetAdmin(admin.ModelAdmin):
    actions = ("take_values", "dismiss")
    list_display = (
        "name",
        "identity",
        "sync_count",
        "record_count",
        "data_storage",
        "modified",
        "live",
    )
    list_filter = [ExistsFilter, MergedFilter, "identity__pool"]
    search_fields = ["=identity__id", "name"]
    readonly_fields = (
        "identity",
        "name",
        "sync_count",
        "record_count",
        "data_storage",
        "created",
        "modified",
        "last_modified_by",
        "deleted",
        "deleted_at_count",
        "merge_root",
    )
    fields = readonly_fields
    inlines = [RecordInline]

    def has_add_permission(self, request):
        return False

    @admin.display(boolean=True)
    def live(self, dataset):
        return dataset.deleted is None

    def get_urls(self):
        take = self.admin_site.admin_view(self.take_value_view)
        return [
            path("<path:object_id>/change/take/", take, name="syncstore_dataset_take"),
            *super().get_urls(),
        ]

    def take_value_view(self, request, object_id):
        """Take one value kept by a merge into its root dataset (the button of a record)."""
        dataset = self.get_object(request, object_id)
        if request.method != "POST" or dataset is None:
            return HttpResponseNotAllowed(["POST"])
        if not self.has_change_permission(request, dataset):
            raise PermissionDenied
        key = request.POST.get("take_key", "")
        services.merged_dataset_accept(
            identity=dataset.identity, dataset_name=dataset.name, keys=[key]
        )
        self.message_user(request, f"'{key}' now has this value in {dataset.merge_root}.")
        if Dataset.objects.filter(pk=dataset.pk, deleted__isnull=True).exists():
            return HttpResponseRedirect(
                reverse("admin:syncstore_dataset_change", args=[dataset.pk])
            )
        return HttpResponseRedirect(reverse("admin:syncstore_dataset_changelist"))

    @admin.action(description="Take the values kept by the merge into the root dataset")
    def take_values(self, request, queryset):
        merged = queryset.exclude(merge_root="").filter(deleted__isnull=True)
        for dataset in merged.select_related("identity"):
            services.merged_dataset_accept(identity=dataset.identity, dataset_name=dataset.name)
        self.message_user(request, f"Took the values of {merged.count()} merged datasets.")

    @admin.action(description="Dismiss (delete) the merged datasets")
    def dismiss(self, request, queryset):
        merged = queryset.exclude(merge_root="").filter(deleted__isnull=True)
        count = 0
        for dataset in merged.select_related("identity"):
            services.dataset_delete(identity=dataset.identity, dataset_name=dataset.name)
            count += 1
        self.message_user(request, f"Dismissed {count} merged datasets.")

    def delete_model(self, request, obj):
        if obj.deleted is None:
            services.dataset_delete(identity=obj.identity, dataset_name=obj.name)

    def delete_queryset(self, request, queryset):
        for dataset in queryset.filter(deleted__isnull=True).select_related("identity"):
            services.dataset_delete(identity=dataset.identity, dataset_name=dataset.name)


# The syncs-per-day chart: inline SVG drawn here (the admin's CSP allows no inline script).
CHART_WIDTH, CHART_HEIGHT, CHART_GAP = 600, 150, 2


def syncs_chart(syncs: list[tuple[date, int]]) -> dict:
    """Bars of a days' series, scaled to the largest day, as SVG geometry for the template."""
    top = max((count for _, count in syncs), default=0)
    step = CHART_WIDTH / max(len(syncs), 1)
    bars = []
    for number, (day, count) in enumerate(syncs):
        height = round(CHART_HEIGHT * count / top, 1) if top else 0
        bars.append(
            {
                "day": day,
                "syncs": count,
                "x": round(number * step, 1),
                "y": round(CHART_HEIGHT - height, 1),
                "width": round(step - CHART_GAP, 1),
                "height": height,
            }
        )
    return {
        "bars": bars,
        "top": top,
        "total": sum(count for _, count in syncs),
        "width": CHART_WIDTH,
        "height": CHART_HEIGHT,
    }


def dashboard_link(pool_id: str) -> str:
    url = reverse("admin:syncstore_poolusage_dashboard", args=[quote(pool_id)])
    return format_html('<a href="{}">dashboard</a>', url)


@admin.register(PoolUsage)
class PoolUsageAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "id",
        "identities",
        "identities_with_data",
        "datasets",
        "storage",
        "last_sync",
        "dashboard",
    )
    fields = list_display
    readonly_fields = list_display

    def get_urls(self):
        dashboard = self.admin_site.admin_view(self.dashboard_view)
        return [
            path("<path:object_id>/dashboard/", dashboard, name="syncstore_poolusage_dashboard"),
            *super().get_urls(),
        ]

    def dashboard_view(self, request, object_id):
        """One pool at a glance: identities, data, syncs per day, sockets, merges, jobs."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        pool = IdentityPool.objects.filter(pk=unquote(object_id)).first()
        if pool is None:
            raise Http404(f"No identity pool {unquote(object_id)!r}.")
        figures = operations.pool_dashboard(pool)
        identities = reverse("admin:identity_identity_changelist")
        datasets = reverse("admin:syncstore_dataset_changelist")
        context = {
            **self.admin_site.each_context(request),
            "title": f"{pool.name}: dashboard",
            "opts": self.model._meta,
            "pool": pool,
            "figures": figures,
            "chart": syncs_chart(figures.syncs),
            "days": operations.DASHBOARD_DAYS,
            "pool_url": reverse("admin:identity_identitypool_change", args=[quote(pool.pk)]),
            "identities_url": f"{identities}?pool__id__exact={pool.pk}",
            "datasets_url": f"{datasets}?identity__pool__id__exact={pool.pk}",
            "merges_url": reverse("admin:identity_merge_changelist")
            + f"?pool__id__exact={pool.pk}",
            "devices_url": reverse("admin:syncstore_device_changelist"),
            "jobs_url": reverse("admin:syncstore_jobrun_changelist"),
        }
        return TemplateResponse(request, "admin/syncstore/poolusage/dashboard.html", context)

    @admin.display(description="")
    def dashboard(self, pool):
        return dashboard_link(pool.id)

    def get_queryset(self, request):
        live = Q(identities__datasets__deleted__isnull=True)
        return (
            super()
            .get_queryset(request)
            .annotate(
                identity_total=Count("identities", distinct=True),
                with_data=Count(
                    "identities", filter=live & Q(identities__datasets__isnull=False), distinct=True
                ),
                dataset_total=Count("identities__datasets", filter=live, distinct=True),
                storage_total=Sum("identities__datasets__data_storage", filter=live),
                last_modified=Max("identities__datasets__modified", filter=live),
            )
        )

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(ordering="identity_total")
    def identities(self, pool):
        return pool.identity_total

    @admin.display(description="identities with data", ordering="with_data")
    def identities_with_data(self, pool):
        return pool.with_data

    @admin.display(ordering="dataset_total")
    def datasets(self, pool):
        url = f"../dataset/?identity__pool__id__exact={pool.id}&state=live"
        return format_html('<a href="{}">{}</a>', url, pool.dataset_total)

    @admin.display(description="bytes", ordering="storage_total")
    def storage(self, pool):
        return pool.storage_total or 0

    @admin.display(description="last sync", ordering="last_modified")
    def last_sync(self, pool):
        return pool.last_modified


class SubscriptionInline(admin.TabularInline):
    model = Subscription
    fields = readonly_fields = ("dataset_name", "created")
    extra = 0


@admin.register(Device)
class DeviceAdmin(admin.ModelAdmin):
    list_display = ("device_id", "identity", "platform", "created")
    list_filter = ["platform"]
    search_fields = ["device_id", "=identity__id"]
    fields = readonly_fields = ("device_id", "identity", "platform", "token", "created")
    inlines = [SubscriptionInline]

    def has_add_permission(self, request):
        return False


@admin.register(PoolSyncConfig)
class PoolSyncConfigAdmin(admin.ModelAdmin):
    list_display = ("pool", "modified")
    fields = readonly_fields = ("pool", "push_sync", "cognito_streams", "events", "modified")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(JobRun)
class JobRunAdmin(admin.ModelAdmin):
    """What each background job did: read only."""

    list_display = ("name", "started", "finished", "succeeded", "summary")
    list_filter = ("name",)
    fields = readonly_fields = ("name", "started", "finished", "report", "error")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(boolean=True, description="ok")
    def succeeded(self, run):
        return None if run.finished is None else not run.error

    @admin.display(description="report")
    def summary(self, run):
        if run.error:
            return run.error[:PREVIEW]
        return ", ".join(f"{key}: {value}" for key, value in run.report.items())[:PREVIEW]


@admin.register(StreamRecord)
class StreamRecordAdmin(admin.ModelAdmin):
    """Updates waiting for their pool's Kinesis stream (docs/streams.md): read only; a row
    here long after its update means delivery keeps failing (see its last error)."""

    list_display = ("pool", "dataset", "sync_count", "created", "attempts", "error_preview")
    list_filter = ("pool",)
    fields = readonly_fields = (
        "pool",
        "dataset",
        "sync_count",
        "created",
        "attempts",
        "last_error",
        "payload",
    )
    actions = ["deliver_now"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description="last error")
    def error_preview(self, row):
        return row.last_error[:PREVIEW]

    def has_deliver_permission(self, request):
        return request.user.is_superuser

    @admin.action(
        description="Try to deliver the selected records' datasets now", permissions=["deliver"]
    )
    def deliver_now(self, request, queryset):
        from syncstore import streams

        dataset_ids = sorted(set(queryset.values_list("dataset_id", flat=True)))
        failed = sum(streams.dataset_deliver(dataset_id=i).failed for i in dataset_ids)
        self.message_user(
            request,
            f"Tried {len(dataset_ids)} datasets; {len(dataset_ids) - failed} delivered, "
            f"{failed} still failing.",
        )


@admin.register(BulkPublish)
class BulkPublishAdmin(admin.ModelAdmin):
    """BulkPublish jobs of the pools: read only (requested with the BulkPublish API)."""

    list_display = ("pool", "status", "requested", "started", "completed", "datasets_published")
    list_filter = ("status",)
    fields = readonly_fields = (
        "pool",
        "status",
        "requested",
        "started",
        "completed",
        "datasets_published",
        "failure_message",
    )

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


# --- Identity's screens, with the data they lead to -----------------------------------------------
# identity's admin knows nothing of datasets: the pool and identity screens are registered
# again here with the pool's dashboard, the identity's datasets and the JSON export added.
def _first_fieldset_with(fieldsets, field: str) -> list:
    (name, options), *rest = fieldsets
    return [(name, {**options, "fields": [*options["fields"], field]}), *rest]


class IdentityPoolWithDataAdmin(identity_admin.IdentityPoolAdmin):
    list_display = [*identity_admin.IdentityPoolAdmin.list_display, "dashboard"]
    readonly_fields = [*identity_admin.IdentityPoolAdmin.readonly_fields, "dashboard"]
    fieldsets = _first_fieldset_with(identity_admin.IdentityPoolAdmin.fieldsets, "dashboard")

    @admin.display(description="operations")
    def dashboard(self, pool):
        return dashboard_link(pool.pk) if pool.pk else "—"


class IdentityWithDataAdmin(identity_admin.IdentityAdmin):
    readonly_fields = [*identity_admin.IdentityAdmin.readonly_fields, "data"]
    actions = [*identity_admin.IdentityAdmin.actions, "export_json"]
    change_form_template = "admin/syncstore/identity_change_form.html"

    @admin.display(description="data")
    def data(self, identity):
        url = reverse("admin:syncstore_dataset_changelist")
        return format_html(
            '<a href="{}?identity__id__exact={}&state=live">datasets of this identity</a> · '
            '<a href="{}?identity__id__exact={}&state=live&merged=yes">datasets kept by '
            "merges</a>",
            url,
            identity.id,
            url,
            identity.id,
        )

    def get_urls(self):
        export = self.admin_site.admin_view(self.export_view)
        return [
            path("<path:object_id>/change/export/", export, name="identity_identity_export"),
            *super().get_urls(),
        ]

    def _export(self, request, identities) -> HttpResponse:
        exports = [operations.identity_export(identity) for identity in identities]
        for identity in identities:
            self.log_change(request, identity, "Exported its data as JSON.")
        body = json.dumps(
            exports[0] if len(exports) == 1 else exports, indent=2, cls=DjangoJSONEncoder
        )
        name = identities[0].id if len(identities) == 1 else f"{len(identities)}-identities"
        stamp = timezone.now().strftime("%Y%m%dT%H%M%SZ")
        response = HttpResponse(body, content_type="application/json")
        filename = f"cognate-{name.replace(':', '_')}-{stamp}.json"
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        return response

    @admin.action(description="Export their data as JSON", permissions=["view"])
    def export_json(self, request, queryset):
        return self._export(request, list(queryset.order_by("id")))

    def export_view(self, request, object_id):
        identity = self._identity_or_404(request, object_id)
        if not self.has_view_permission(request, identity):
            raise PermissionDenied
        return self._export(request, [identity])


for model, model_admin in (
    (IdentityPool, IdentityPoolWithDataAdmin),
    (Identity, IdentityWithDataAdmin),
):
    admin.site.unregister(model)
    admin.site.register(model, model_admin)
