"""Routes outside Django's URLconf: the AWS APIs (by protocol) and the websockets."""

from django.urls import path

from aws import rest, rpc
from aws.gateway import AwsGateway
from identity.api import cognito_identity, guests, iam, sts  # noqa: F401 (they register)
from syncstore.api import cognito_sync  # noqa: F401 (it registers)
from syncstore.consumers import SyncConsumer

aws_gateway = AwsGateway(
    prefix="/aws",
    rpc=rpc.respond,
    rest={"identitypools": rest.respond},
    admit=guests.admit,
)

websocket_urlpatterns = [path("ws/sync", SyncConsumer.as_asgi())]
