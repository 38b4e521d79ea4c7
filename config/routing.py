"""Routes outside Django's URLconf: the AWS APIs (by protocol) and the websockets."""

from identity.api import endpoint
from identity.api.gateway import AwsGateway

aws_gateway = AwsGateway(prefix="/aws", rpc=endpoint.respond, rest={})

websocket_urlpatterns: list = []
