"""Routes outside Django's URLconf: the AWS APIs (by protocol) and the websockets."""

from django.urls import path

from identity.api import endpoint
from identity.api.gateway import AwsGateway
from syncstore.api import rest as sync_rest
from syncstore.consumers import SyncConsumer

aws_gateway = AwsGateway(
    prefix="/aws",
    rpc=endpoint.respond,
    rest={"identitypools": sync_rest.respond},
    admit=endpoint.admit,
)

websocket_urlpatterns = [path("ws/sync", SyncConsumer.as_asgi())]
