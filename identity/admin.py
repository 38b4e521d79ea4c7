"""The operator's screens for identity state. Writes go through `identity.services`; fields
whose change would break an invariant are read-only. syncstore's admin extends the pool and
identity screens with the data they lead to (dashboard, datasets, the JSON export)."""

import json

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import quote, unquote
from django.core.exceptions import PermissionDenied
from django.db.models import Count
from django.http import Http404, HttpResponseNotAllowed, HttpResponseRedirect
from django.urls import path, reverse

from aws.errors import InvalidParameter
from identity import policies, services, signing_keys
from identity.models import (
    AccessKey,
    Identity,
    IdentityPool,
    Login,
    Merge,
    OidcProvider,
    Role,
    SigningKey,
)


class DefaultRoleInline(admin.TabularInline):
    model = Role
    fk_name = "pool"
    fields = ["name", "arn", "max_session_duration"]
    readonly_fields = ["name", "arn", "max_session_duration"]
    extra = 0
    can_delete = False
    show_change_link = True
    verbose_name_plural = "roles made for this pool"

    def has_add_permission(self, request, obj=None):
        return False


class ClassicFlowSelect(forms.NullBooleanSelect):
    """AllowClassicFlow's three states, named for what each does (reference §3.1)."""

    def __init__(self, attrs=None):
        super().__init__(attrs)
        self.choices = [
            ("unknown", "Not set: allowed, as on AWS (the member is left out of answers)"),
            ("true", "Allowed"),
            ("false", "Refused"),
        ]


class IdentityPoolForm(forms.ModelForm):
    merge_policy = forms.ChoiceField(
        choices=[(policy, policy) for policy in IdentityPool.MERGE_POLICIES],
        initial="merge",
        required=False,
        help_text="How a guest's datasets meet an account's when the guest signs in to it "
        f"(docs/identity.md). Stored as the pool tag {IdentityPool.MERGE_POLICY_TAG}.",
    )

    class Meta:
        model = IdentityPool
        fields = [
            *IdentityPool.CONFIG_FIELDS,
            "authenticated_role",
            "unauthenticated_role",
            "role_mappings",
            "guest_retention_days",
            "merged_data_retention_days",
        ]
        widgets = {"allow_classic_flow": ClassicFlowSelect}
        labels = {"allow_classic_flow": "Classic flow"}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.fields["merge_policy"].initial = self.instance.merge_policy

    def clean_guest_retention_days(self):
        return self._days(self.cleaned_data.get("guest_retention_days"))

    def clean_merged_data_retention_days(self):
        return self._days(self.cleaned_data.get("merged_data_retention_days"))

    @staticmethod
    def _days(value):
        if value is not None and value < 1:
            raise forms.ValidationError("At least one day; leave empty to keep for ever.")
        return value

    def clean(self):
        data = super().clean() or {}
        tags = dict(data.get("tags") or {})
        tags[IdentityPool.MERGE_POLICY_TAG] = data.get("merge_policy") or "merge"
        data["tags"] = tags
        return data


@admin.register(IdentityPool)
class IdentityPoolAdmin(admin.ModelAdmin):
    form = IdentityPoolForm
    list_display = ["name", "id", "allow_unauthenticated", "identity_count", "created"]
    search_fields = ["id", "name"]
    readonly_fields = ["id", "created", "modified"]
    fieldsets = [
        (
            None,
            {
                "fields": [
                    "id",
                    "name",
                    "allow_unauthenticated",
                    "allow_classic_flow",
                    "merge_policy",
                ]
            },
        ),
        (
            "Login providers",
            {
                "fields": [
                    "supported_login_providers",
                    "developer_provider_name",
                    "openid_connect_provider_arns",
                    "cognito_identity_providers",
                    "saml_provider_arns",
                ]
            },
        ),
        ("Roles", {"fields": ["authenticated_role", "unauthenticated_role", "role_mappings"]}),
        (
            "Retention (docs/operations.md)",
            {"fields": ["guest_retention_days", "merged_data_retention_days"]},
        ),
        (None, {"fields": ["tags", "created", "modified"]}),
    ]
    inlines = [DefaultRoleInline]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(identity_total=Count("identities"))

    @admin.display(description="identities", ordering="identity_total")
    def identity_count(self, pool):
        return pool.identity_total

    def get_readonly_fields(self, request, obj=None):
        fields = list(self.readonly_fields)
        if obj is not None and obj.developer_provider_name:
            fields.append("developer_provider_name")  # cannot change once set
        return fields

    def save_model(self, request, obj, form, change):
        config = {field: getattr(obj, field) for field in IdentityPool.CONFIG_FIELDS}
        config["tags"] = form.cleaned_data["tags"]
        if change:
            services.pool_update(pool=obj, **config)
            roles = {}
            if obj.authenticated_role:
                roles["authenticated"] = obj.authenticated_role.arn
            if obj.unauthenticated_role:
                roles["unauthenticated"] = obj.unauthenticated_role.arn
            services.pool_roles_set(pool=obj, roles=roles, role_mappings=obj.role_mappings)
        else:
            created = services.pool_create(**config)
            obj.pk = created.pk
        services.pool_retention_set(
            pool=obj,
            guest_days=form.cleaned_data.get("guest_retention_days"),
            merged_data_days=form.cleaned_data.get("merged_data_retention_days"),
        )
        obj.refresh_from_db()

    def delete_model(self, request, obj):
        services.pool_delete(pool=obj)

    def delete_queryset(self, request, queryset):
        for pool in queryset:
            services.pool_delete(pool=pool)


class RoleForm(forms.ModelForm):
    class Meta:
        model = Role
        fields = ["name", "description", "trust_policy", "policy", "max_session_duration"]

    def clean_trust_policy(self):
        return self._checked(self.cleaned_data["trust_policy"], trust=True)

    def clean_policy(self):
        return self._checked(self.cleaned_data["policy"], trust=False)

    def clean_max_session_duration(self):
        value = self.cleaned_data["max_session_duration"]
        if not 3600 <= value <= 43200:
            raise forms.ValidationError("Between 3600 and 43200 seconds.")
        return value

    @staticmethod
    def _checked(document, *, trust):
        problems = policies.document_errors(document, trust=trust)
        if problems:
            raise forms.ValidationError(problems)
        return document


@admin.register(Role)
class RoleAdmin(admin.ModelAdmin):
    form = RoleForm
    list_display = ["name", "arn", "pool", "max_session_duration"]
    search_fields = ["name", "arn"]
    readonly_fields = ["arn", "role_id", "pool", "created"]

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return ["arn", "role_id", "pool", "created"]
        return ["name", "arn", "role_id", "pool", "created"]

    def save_model(self, request, obj, form, change):
        if change:
            services.role_update(
                role=obj,
                description=obj.description,
                trust_policy=obj.trust_policy,
                policy=obj.policy,
                max_session_duration=obj.max_session_duration,
            )
            return
        created = services.role_create(
            name=obj.name,
            trust_policy=obj.trust_policy,
            policy=obj.policy,
            description=obj.description,
            max_session_duration=obj.max_session_duration,
        )
        obj.pk = created.pk
        obj.refresh_from_db()

    def delete_model(self, request, obj):
        services.role_delete(role=obj)

    def delete_queryset(self, request, queryset):
        for role in queryset:
            services.role_delete(role=role)


class LoginInline(admin.TabularInline):
    model = Login
    fields = ["provider", "subject", "created"]
    readonly_fields = ["provider", "subject", "created"]
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


class MergedIntoThisInline(admin.TabularInline):
    model = Merge
    fk_name = "survivor"
    verbose_name_plural = "identities merged into this one"
    fields = readonly_fields = (
        "created",
        "merged_identity_id",
        "trigger",
        "logins",
        "policy",
        "summary",
    )
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


class MergedAwayInline(MergedIntoThisInline):
    fk_name = "merged"
    verbose_name_plural = "merged into another identity"
    fields = readonly_fields = ("created", "survivor", "trigger", "logins", "policy", "summary")


@admin.register(Identity)
class IdentityAdmin(admin.ModelAdmin):
    list_display = ["id", "pool", "state", "merged_into", "created", "modified"]
    list_filter = ["state", "pool"]
    search_fields = ["id", "logins__subject"]
    # Every field is read-only: state changes go through the actions, which call services.
    readonly_fields = [
        "id",
        "pool",
        "state",
        "merged_into",
        "credentials_not_before",
        "principal_tags",
        "created",
        "modified",
        "last_used",
    ]
    inlines = [LoginInline, MergedIntoThisInline, MergedAwayInline]

    actions = ["revoke_credentials", "disable"]
    change_form_template = "admin/identity/identity/change_form.html"

    def has_add_permission(self, request):
        return False

    def get_actions(self, request):
        actions = super().get_actions(request)
        delete = actions.get("delete_selected")
        if delete is not None:
            description = "Delete the selected identities and all their data (asks first)"
            actions["delete_selected"] = (delete[0], delete[1], description)
        return actions

    def get_urls(self):
        def view(function):
            return self.admin_site.admin_view(function)

        return [
            path(
                "<path:object_id>/change/revoke/",
                view(self.revoke_view),
                name="identity_identity_revoke",
            ),
            path(
                "<path:object_id>/change/disable/",
                view(self.disable_view),
                name="identity_identity_disable",
            ),
            *super().get_urls(),
        ]

    # --- What an operator may do to identities (each goes through a service and is logged) ---
    def _revoke(self, request, identities) -> None:
        for identity in identities:
            services.identity_revoke_credentials(identity=identity)
            self.log_change(request, identity, "Revoked its credentials and tokens.")
        self.message_user(request, f"Revoked the credentials of {len(identities)} identities.")

    def _disable(self, request, identities) -> None:
        for identity in identities:
            services.identity_disable(identity=identity)
            self.log_change(request, identity, "Disabled it (and revoked its credentials).")
        self.message_user(request, f"Disabled {len(identities)} identities.")

    @admin.action(description="Revoke credentials and tokens issued so far", permissions=["change"])
    def revoke_credentials(self, request, queryset):
        self._revoke(request, list(queryset))

    @admin.action(description="Disable (and revoke credentials)", permissions=["change"])
    def disable(self, request, queryset):
        self._disable(request, list(queryset))

    def _identity_or_404(self, request, object_id):
        identity = self.get_object(request, unquote(object_id))
        if identity is None:
            raise Http404(f"No identity {unquote(object_id)!r}.")
        return identity

    def _button_view(self, request, object_id, act):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        identity = self._identity_or_404(request, object_id)
        if not self.has_change_permission(request, identity):
            raise PermissionDenied
        act(request, [identity])
        return HttpResponseRedirect(
            reverse("admin:identity_identity_change", args=[quote(identity.pk)])
        )

    def revoke_view(self, request, object_id):
        return self._button_view(request, object_id, self._revoke)

    def disable_view(self, request, object_id):
        return self._button_view(request, object_id, self._disable)

    def delete_model(self, request, obj):
        services.identities_delete(identities=[obj])

    def delete_queryset(self, request, queryset):
        services.identities_delete(identities=list(queryset))


class AccessKeyForm(forms.ModelForm):
    class Meta:
        model = AccessKey
        fields = ["user", "description", "pools", "is_active"]

    def clean_user(self):
        user = self.cleaned_data["user"]
        if not (user.is_active and user.is_staff):
            raise forms.ValidationError("Access keys are for active staff users.")
        return user


@admin.register(AccessKey)
class AccessKeyAdmin(admin.ModelAdmin):
    form = AccessKeyForm
    list_display = ["access_key_id", "user", "description", "is_active", "created", "last_used"]
    list_filter = ["is_active"]
    search_fields = ["access_key_id", "user__username", "description"]
    filter_horizontal = ["pools"]
    actions = ["deactivate"]

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return ["access_key_id", "created", "last_used"]
        return ["access_key_id", "user", "created", "last_used"]

    def save_model(self, request, obj, form, change):
        if change:
            obj.save()
            return
        key, secret = services.access_key_create(user=obj.user, description=obj.description)
        obj.pk = key.pk
        obj.refresh_from_db()
        messages.warning(
            request,
            f"Access key {key.access_key_id} created. Its secret is shown only now: {secret}",
        )

    def save_related(self, request, form, formsets, change):
        form.instance = AccessKey.objects.get(pk=form.instance.pk)
        super().save_related(request, form, formsets, change)

    @admin.action(description="Deactivate the selected keys")
    def deactivate(self, request, queryset):
        for key in queryset:
            services.access_key_deactivate(key=key)
        self.message_user(request, f"Deactivated {queryset.count()} keys.")


@admin.register(SigningKey)
class SigningKeyAdmin(admin.ModelAdmin):
    list_display = ["kid", "algorithm", "created", "retired"]
    readonly_fields = ["kid", "algorithm", "created", "retired", "public_key"]
    fields = ["kid", "algorithm", "created", "retired", "public_key"]
    actions = ["rotate"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description="public JWK")
    def public_key(self, key):
        return json.dumps(key.public_jwk, indent=2)

    @admin.action(description="Rotate: put a new signing key in service")
    def rotate(self, request, queryset):
        key = signing_keys.signing_key_rotate()
        self.message_user(
            request,
            f"Signing key {key.kid} is now in service; older keys stay published until "
            "their tokens expire.",
        )


@admin.register(Merge)
class MergeAdmin(admin.ModelAdmin):
    """What each merge did: read only."""

    list_display = ("created", "merged_identity_id", "survivor", "trigger", "policy", "pool")
    list_filter = ("policy", "trigger", "pool")
    search_fields = ("merged_identity_id", "=survivor__id")
    fields = readonly_fields = (
        "created",
        "pool",
        "merged_identity_id",
        "survivor",
        "trigger",
        "logins",
        "policy",
        "summary",
    )

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class OidcProviderForm(forms.ModelForm):
    class Meta:
        model = OidcProvider
        fields = ("url", "client_ids", "thumbprints")

    def clean_url(self):
        try:
            return services.oidc_url_checked(self.cleaned_data["url"])
        except InvalidParameter as error:
            raise forms.ValidationError(error.message) from None

    def clean_client_ids(self):
        value = self.cleaned_data["client_ids"]
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise forms.ValidationError('A list of client ids, such as ["my-client"].')
        return value


@admin.register(OidcProvider)
class OidcProviderAdmin(admin.ModelAdmin):
    """OpenID Connect issuers pools may trust (also through the IAM API)."""

    form = OidcProviderForm
    list_display = ("url", "arn", "client_ids", "created")
    search_fields = ("url",)
    readonly_fields = ("arn", "created")

    def get_readonly_fields(self, request, obj=None):
        return ("url", "arn", "created") if obj else ("arn", "created")

    def save_model(self, request, obj, form, change):
        if change:
            services.oidc_provider_client_ids_set(provider=obj, client_ids=obj.client_ids)
            return
        created = services.oidc_provider_create(
            url=obj.url, client_ids=obj.client_ids, thumbprints=obj.thumbprints, tags=[]
        )
        obj.pk = created.pk
        obj.refresh_from_db()

    def delete_model(self, request, obj):
        services.oidc_provider_delete(provider=obj)
