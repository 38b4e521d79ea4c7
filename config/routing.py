"""Routes outside Django's URLconf: the AWS APIs (by protocol) and the websockets."""

from identity.api import endpoint
from identity.api.gateway import AwsGateway
from syncstore.api import rest as sync_rest

aws_gateway = AwsGateway(
    prefix="/aws", rpc=endpoint.respond, rest={"identitypools": sync_rest.respond}
)

websocket_urlpatterns: list = []
