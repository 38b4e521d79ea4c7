"""Make sure the demo identity pool exists, and say how to reach it."""

from django.conf import settings
from django.core.management.base import BaseCommand

from identity import services
from identity.models import IdentityPool


class Command(BaseCommand):
    help = "Create the demo identity pool (guests and the classic flow allowed) if missing."

    def add_arguments(self, parser):
        parser.add_argument("--endpoint", default="http://127.0.0.1:8000/aws")

    def handle(self, *args, endpoint, **options):
        pool_id = settings.COGNATE_DEMO_POOL_ID
        pool = IdentityPool.objects.filter(id=pool_id).first()
        if pool is None:
            pool = services.pool_create(
                pool_id=pool_id,
                name="Demo",
                allow_unauthenticated=True,
                allow_classic_flow=True,
                developer_provider_name=settings.COGNATE_SITE_DEVELOPER_PROVIDER,
            )
        elif not pool.developer_provider_name:
            services.pool_developer_provider_set(
                pool=pool, name=settings.COGNATE_SITE_DEVELOPER_PROVIDER
            )
        self.stdout.write(f"Demo identity pool: {pool.id}")
        self.stdout.write(
            f"boto3: endpoint_url={endpoint!r}, region_name={settings.COGNATE_REGION!r}"
        )
