"""HTTP routes."""

from django.contrib import admin
from django.urls import include, path

from identity.api import health, session, wellknown
from web import views as web

urlpatterns = [
    # The AWS APIs under /aws are served by config.routing.aws_gateway, beside Django.
    path("healthz", health.healthz, name="healthz"),
    path(".well-known/openid-configuration", wellknown.openid_configuration, name="oidc-config"),
    path(".well-known/jwks.json", wellknown.jwks, name="jwks"),
    path(".well-known/jwks_uri", wellknown.jwks),
    path("identity/session", session.session, name="identity-session"),
    path("accounts/", include("allauth.urls")),
    path("admin/", admin.site.urls),
    path("sw.js", web.service_worker, name="service-worker"),
    path("favicon.ico", web.favicon),
    path("", web.index, name="app"),
]
