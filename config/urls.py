"""HTTP routes."""

from django.contrib import admin
from django.urls import path

from identity.api import health, wellknown

urlpatterns = [
    # The AWS APIs under /aws are served by config.routing.aws_gateway, beside Django.
    path("healthz", health.healthz, name="healthz"),
    path(".well-known/openid-configuration", wellknown.openid_configuration, name="oidc-config"),
    path(".well-known/jwks.json", wellknown.jwks, name="jwks"),
    path(".well-known/jwks_uri", wellknown.jwks),
    path("admin/", admin.site.urls),
]
