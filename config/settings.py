"""Settings, read from the environment (and an optional `.env` file beside manage.py).

Every variable is listed with its default and meaning in the README's configuration table.
With nothing set, Cognate runs on the embedded defaults: SQLite under `var/`, the in-memory
channel layer, a local-memory cache and Celery tasks run inline. `DATABASE_URL` and
`REDIS_URL` switch to PostgreSQL and Redis.
"""

import secrets
import warnings
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()
if (BASE_DIR / ".env").is_file():
    env.read_env(BASE_DIR / ".env")

DEBUG = env.bool("DEBUG", default=False)


def _secret_key() -> str:
    """SECRET_KEY from the environment. On the embedded defaults (no DATABASE_URL or
    REDIS_URL: everything on this machine) a key is made once and kept in var/secret-key;
    a deployment on shared services must set it, the same in every process."""
    if key := env.str("SECRET_KEY", default=""):
        return key
    if env.str("DATABASE_URL", default="") or env.str("REDIS_URL", default=""):
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. With DATABASE_URL or REDIS_URL set, every process of the "
            "deployment needs the same SECRET_KEY: set it to a long random string, for example "
            "the output of `python -c 'import secrets; print(secrets.token_urlsafe(50))'`."
        )
    VAR_DIR.mkdir(exist_ok=True)
    path = VAR_DIR / "secret-key"
    if not path.exists():
        path.touch(mode=0o600)
        path.write_text(secrets.token_urlsafe(50))
    return path.read_text().strip()


SECRET_KEY = _secret_key()
SECRET_KEY_FALLBACKS = env.list("SECRET_KEY_FALLBACKS", default=[])

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "allauth",
    "allauth.account",
    "allauth.socialaccount",
    "allauth.socialaccount.providers.openid_connect",
    "identity",
    "syncstore",
    "web",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "csp.middleware.CSPMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "identity.accounts.ProviderFailure",
]

ROOT_URLCONF = "config.urls"
ASGI_APPLICATION = "config.asgi.application"
WSGI_APPLICATION = None

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database ---------------------------------------------------------------------------------
DATABASES = {
    "default": env.db_url("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'cognate.sqlite3'}")
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    if DATABASES["default"]["NAME"] != ":memory:":
        Path(DATABASES["default"]["NAME"]).parent.mkdir(parents=True, exist_ok=True)
    DATABASES["default"]["OPTIONS"] = {
        # IMMEDIATE takes the write lock when a transaction starts, so concurrent writers
        # queue on busy_timeout instead of failing to upgrade a read lock.
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": (
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;"
        ),
    }
    # Tests get a file too: an in-memory database shares one cache between threads and
    # locks whole tables, unlike the file the server uses.
    if DATABASES["default"]["NAME"] != ":memory:":
        database_file = Path(DATABASES["default"]["NAME"])
        test_file = database_file.with_name(f"test-{database_file.name}")
    else:
        test_file = VAR_DIR / "test-cognate.sqlite3"
    DATABASES["default"]["TEST"] = {"NAME": str(test_file)}
# Threads per server process for the AWS API's work (COGNATE_AWS_THREADS): a request waiting
# on the database (a commit), Redis or a trigger does not hold up the others. Two by default:
# a second thread lets a process sign the next user in while a commit waits, and costs
# nothing measurable where many devices of one identity write one dataset (they wait on its
# row lock); more pays only with many identities writing at once. docs/benchmarks.md has the
# figures.
COGNATE_AWS_THREADS = env.int("COGNATE_AWS_THREADS", default=2)
# Connections are kept open between requests: each of those threads holds one (a process
# holds up to COGNATE_AWS_THREADS, plus one for the site's pages). They are not pinged before
# each request (that would cost a round trip per call); a connection the database dropped
# fails one request, answered with a retryable 500, and is then replaced.
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=600)

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: cache, channel layer, Celery broker -----------------------------------------------
REDIS_URL = env.str("REDIS_URL", default="")
REDIS_KEY_PREFIX = env.str("REDIS_KEY_PREFIX", default="cognate")

# The cache holds revocations, rate limits and the configuration generation, and must be
# shared by every process of a deployment (including `manage.py` commands): Redis when
# REDIS_URL is set, otherwise files under var/cache. CACHE_URL overrides both.
if env.str("CACHE_URL", default=""):
    CACHES = {"default": env.cache_url("CACHE_URL")}
elif REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "config.cache.SharedRedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": REDIS_KEY_PREFIX,
        }
    }
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(VAR_DIR / "cache"),
            "OPTIONS": {"MAX_ENTRIES": 100_000},
        }
    }

if REDIS_URL:
    # Redis pub/sub: an event to an identity's group is published once and each server
    # process hands it to its own sockets, so fan-out costs one Redis message per process, not
    # one per socket. Delivery is at most once, which the sync protocol allows for (every event
    # carries the sync count; a device that misses one pulls).
    CHANNEL_LAYERS = {
        "default": {
            # channels_redis's pub/sub layer, telling sockets to pull after a lost connection
            "BACKEND": "syncstore.layers.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": [REDIS_URL], "prefix": f"{REDIS_KEY_PREFIX}:asgi"},
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_TASK_ALWAYS_EAGER = not REDIS_URL
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_DEFAULT_QUEUE = f"{REDIS_KEY_PREFIX}"
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}

# --- Auth, i18n, static -----------------------------------------------------------------------
# Any Django authentication backend can sit here (LDAP, single sign-on...): the site's
# sign-in pages authenticate through these, and every sign-in links the browser's guest to
# the user's identity (identity/accounts.py).
# Extra backends (LDAP, a company directory...) go first: COGNATE_AUTH_BACKENDS is a
# comma-separated list of dotted paths.
AUTHENTICATION_BACKENDS = [
    *env.list("COGNATE_AUTH_BACKENDS", default=[]),
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
ACCOUNT_LOGIN_METHODS = {"username"}
ACCOUNT_SIGNUP_FIELDS = ["username*", "password1*", "password2*"]
ACCOUNT_EMAIL_VERIFICATION = "none"
ACCOUNT_LOGOUT_REDIRECT_URL = "/"
SOCIALACCOUNT_ADAPTER = "identity.accounts.SocialAccountAdapter"
SOCIALACCOUNT_EMAIL_VERIFICATION = "none"
SOCIALACCOUNT_EMAIL_REQUIRED = False
# Social sign-in with one OpenID Connect provider, when SOCIAL_OIDC_SERVER_URL is set.
SOCIALACCOUNT_PROVIDERS: dict = {"openid_connect": {"APPS": []}}
if env.str("SOCIAL_OIDC_SERVER_URL", default=""):
    SOCIALACCOUNT_PROVIDERS["openid_connect"]["APPS"].append(
        {
            "provider_id": env.str("SOCIAL_OIDC_ID", default="oidc"),
            "name": env.str("SOCIAL_OIDC_NAME", default="OpenID Connect"),
            "client_id": env.str("SOCIAL_OIDC_CLIENT_ID"),
            "secret": env.str("SOCIAL_OIDC_SECRET", default=""),
            "settings": {
                "server_url": env.str("SOCIAL_OIDC_SERVER_URL"),
                # client_secret_post or client_secret_basic; empty lets the provider's
                # discovery document decide (post when it offers both).
                **(
                    {"token_auth_method": method}
                    if (method := env.str("SOCIAL_OIDC_TOKEN_AUTH_METHOD", default=""))
                    else {}
                ),
            },
        }
    )
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "staticfiles"
# WhiteNoise serves static files from the app's own processes. Straight from `static/` by
# default (nothing to collect); after `manage.py collectstatic`, set
# STATIC_FROM_FINDERS=false to serve the collected copy.
WHITENOISE_USE_FINDERS = env.bool("STATIC_FROM_FINDERS", default=True)
if WHITENOISE_USE_FINDERS:  # nothing collected, and nothing to warn about
    warnings.filterwarnings("ignore", message="No directory at: ", category=UserWarning)
WHITENOISE_MAX_AGE = 60

# --- Content Security Policy (pages of this server; /aws answers JSON and XML only) ----------
# Scripts and connections only to this origin: the demo app, its client and the admin load
# nothing from elsewhere. Inline styles are allowed for the admin's and the sign-in pages'.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:"],
        "connect-src": ["'self'", *env.list("CSP_CONNECT_SRC", default=[])],
        "worker-src": ["'self'"],
        "manifest-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="WARNING")},
}

# --- CORS for browser callers of the AWS endpoint (reference §1.8, §1.9) ----------------------
# Origins whose pages may call /aws; "*" lets any page call it, as AWS does.
CORS_ALLOWED_ORIGINS = env.list("CORS_ALLOWED_ORIGINS", default=["*"])
# Every header the AWS SDK for JavaScript v2 and v3 and AWS Amplify v6 send from a browser
# (Amplify adds cache-control: no-store to every Cognito Identity call).
CORS_ALLOW_HEADERS = [
    "authorization",
    "cache-control",
    "content-type",
    "x-amz-date",
    "x-amz-target",
    "x-amz-security-token",
    "x-amz-user-agent",
    "x-amz-content-sha256",
    "x-amz-client-context",
    "amz-sdk-invocation-id",
    "amz-sdk-request",
]
CORS_EXPOSE_HEADERS = [
    "x-amzn-RequestId",
    "x-amzn-ErrorType",
    "x-amzn-ErrorMessage",
    "Date",
    "Retry-After",
]
# How long a browser may reuse a preflight's answer (Chromium keeps it at most 2 hours).
CORS_MAX_AGE = 86400

# --- Cognate ----------------------------------------------------------------------------------
# The AWS region and account this server stands in for: ids are `<region>:<uuid>`, ARNs
# name the account.
COGNATE_REGION = env.str("COGNATE_REGION", default="us-east-1")
COGNATE_ACCOUNT_ID = env.str("COGNATE_ACCOUNT_ID", default="000000000000")
# Public base URL of this server: the `iss` of its OpenID tokens; discovery and JWKS are
# served under it at /.well-known/.
COGNATE_ISSUER_URL = env.str("COGNATE_ISSUER_URL", default="http://127.0.0.1:8000").rstrip("/")
COGNATE_OPENID_TOKEN_LIFETIME = env.int("COGNATE_OPENID_TOKEN_LIFETIME", default=600)
COGNATE_CREDENTIALS_LIFETIME = env.int("COGNATE_CREDENTIALS_LIFETIME", default=3600)
COGNATE_SIGV4_CLOCK_SKEW = env.int("COGNATE_SIGV4_CLOCK_SKEW", default=300)
COGNATE_MAX_BODY_BYTES = env.int("COGNATE_MAX_BODY_BYTES", default=1_572_864)
COGNATE_DEMO_POOL_ID = env.str(
    "COGNATE_DEMO_POOL_ID", default=f"{COGNATE_REGION}:dec0de00-0000-4000-8000-000000000001"
)
DATA_UPLOAD_MAX_MEMORY_SIZE = COGNATE_MAX_BODY_BYTES

# --- Cognito Sync limits (Cognito's defaults) -------------------------------------------------
SYNC_MAX_DATASETS_PER_IDENTITY = env.int("SYNC_MAX_DATASETS_PER_IDENTITY", default=20)
SYNC_MAX_RECORDS_PER_DATASET = env.int("SYNC_MAX_RECORDS_PER_DATASET", default=1024)
SYNC_MAX_DATASET_BYTES = env.int("SYNC_MAX_DATASET_BYTES", default=1024 * 1024)
SYNC_MAX_KEY_BYTES = env.int("SYNC_MAX_KEY_BYTES", default=128)
SYNC_RECORD_KEY_PATTERN = env.str("SYNC_RECORD_KEY_PATTERN", default=r"[a-zA-Z0-9_.:-]+")
SYNC_SESSION_TOKEN_LIFETIME = env.int("SYNC_SESSION_TOKEN_LIFETIME", default=3600)

# --- Websockets (/ws/sync) ---------------------------------------------------------------------
# Origins (besides ALLOWED_HOSTS) whose pages may open sockets; "*" for any.
WEBSOCKET_ALLOWED_ORIGINS = env.list("WEBSOCKET_ALLOWED_ORIGINS", default=[])
SYNC_WS_AUTH_TIMEOUT = env.float("SYNC_WS_AUTH_TIMEOUT", default=10.0)
SYNC_WS_IDLE_TIMEOUT = env.float("SYNC_WS_IDLE_TIMEOUT", default=300.0)
SYNC_WS_MAX_MESSAGE_BYTES = env.int("SYNC_WS_MAX_MESSAGE_BYTES", default=1024 * 1024)
SYNC_WS_MAX_SOCKETS_PER_IDENTITY = env.int("SYNC_WS_MAX_SOCKETS_PER_IDENTITY", default=20)
SYNC_WS_PUSHES_PER_SECOND = env.float("SYNC_WS_PUSHES_PER_SECOND", default=10.0)
SYNC_WS_PUSH_BURST = env.int("SYNC_WS_PUSH_BURST", default=30)
SYNC_WS_EVENT_RECORDS_MAX_BYTES = env.int("SYNC_WS_EVENT_RECORDS_MAX_BYTES", default=32 * 1024)

# --- Login providers (identity/providers/) ----------------------------------------------------
# Tried in this order; the first that handles a Logins key verifies its token.
COGNATE_LOGIN_PROVIDERS = [
    "identity.providers.cognate.CognateTokens",
    "identity.providers.oidc.Google",
    "identity.providers.oidc.Apple",
    "identity.providers.facebook.Facebook",
    "identity.providers.amazon.LoginWithAmazon",
    "identity.providers.twitter.Twitter",
    "identity.providers.oidc.OpenIdConnect",
]
# Every provider endpoint is a setting, so a deployment (or a test) can point it elsewhere.
COGNATE_GOOGLE_ISSUER = env.str("COGNATE_GOOGLE_ISSUER", default="https://accounts.google.com")
COGNATE_APPLE_ISSUER = env.str("COGNATE_APPLE_ISSUER", default="https://appleid.apple.com")
COGNATE_FACEBOOK_GRAPH_URL = env.str(
    "COGNATE_FACEBOOK_GRAPH_URL", default="https://graph.facebook.com"
)
COGNATE_AMAZON_TOKENINFO_URL = env.str(
    "COGNATE_AMAZON_TOKENINFO_URL", default="https://api.amazon.com/auth/o2/tokeninfo"
)
COGNATE_TWITTER_VERIFY_URL = env.str(
    "COGNATE_TWITTER_VERIFY_URL",
    default="https://api.twitter.com/1.1/account/verify_credentials.json",
)
# Seconds to wait for a provider; seconds of clock difference allowed in its tokens.
COGNATE_PROVIDER_TIMEOUT = env.float("COGNATE_PROVIDER_TIMEOUT", default=5.0)
COGNATE_PROVIDER_CLOCK_SKEW = env.int("COGNATE_PROVIDER_CLOCK_SKEW", default=300)
# Seconds before an unknown key id may fetch a provider's keys again.
COGNATE_PROVIDER_KEYS_REFETCH_AFTER = env.float("COGNATE_PROVIDER_KEYS_REFETCH_AFTER", default=10.0)
# http:// OpenID Connect issuers (local development and tests only).
COGNATE_ALLOW_HTTP_ISSUERS = env.bool("COGNATE_ALLOW_HTTP_ISSUERS", default=False)
# URLs the server fetches because someone configured them (OpenID Connect discovery and
# keys, the providers' endpoints above, Sync Trigger webhooks) may be on loopback, private,
# link-local, unique-local or cloud metadata addresses only when this is set: local
# development and tests only, never production (identity/outbound.py).
# SYNC_TRIGGER_ALLOW_PRIVATE_ADDRESSES is its older name and still honoured.
COGNATE_OUTBOUND_ALLOW_PRIVATE_ADDRESSES = env.bool(
    "COGNATE_OUTBOUND_ALLOW_PRIVATE_ADDRESSES",
    default=env.bool("SYNC_TRIGGER_ALLOW_PRIVATE_ADDRESSES", default=False),
)
# The function deciding merges for pools whose merge policy is "custom" (syncstore/merge.py).
COGNATE_MERGE_RESOLVER = env.str("COGNATE_MERGE_RESOLVER", default="")

# --- What identity tells the data side (identity/hooks.py) ------------------------------------
# The hooks told, in this order, of merges (inside the merge's transaction: the datasets move
# with it), revocations and deletions (after commit). syncstore's carry the datasets over and
# tell the devices; without them a merge would leave the guest's data behind.
COGNATE_IDENTITY_HOOKS = env.list("COGNATE_IDENTITY_HOOKS", default=["syncstore.hooks.DataHooks"])

# --- The site's own identities (browser bootstrap, site accounts) -----------------------------
# The pool the site's pages use, and its developer provider name: a Django user is a
# developer user identifier of this pool.
COGNATE_SITE_POOL_ID = env.str("COGNATE_SITE_POOL_ID", default=COGNATE_DEMO_POOL_ID)
COGNATE_SITE_DEVELOPER_PROVIDER = env.str(
    "COGNATE_SITE_DEVELOPER_PROVIDER", default="login.cognate"
)
COGNATE_GUEST_COOKIE = "cognate_guest"
COGNATE_GUEST_COOKIE_AGE = env.int("COGNATE_GUEST_COOKIE_AGE", default=400 * 86400)
# New guests (GetId without Logins, and the browser bootstrap) per client address: at most
# BURST_LIMIT per BURST_WINDOW seconds and RATE_LIMIT per RATE_WINDOW; and per identity pool,
# POOL_LIMIT per POOL_WINDOW. Beyond: 429 TooManyRequestsException (docs/identity.md).
COGNATE_GUEST_RATE_LIMIT = env.int("COGNATE_GUEST_RATE_LIMIT", default=600)
COGNATE_GUEST_RATE_WINDOW = env.int("COGNATE_GUEST_RATE_WINDOW", default=3600)
COGNATE_GUEST_BURST_LIMIT = env.int("COGNATE_GUEST_BURST_LIMIT", default=120)
COGNATE_GUEST_BURST_WINDOW = env.int("COGNATE_GUEST_BURST_WINDOW", default=60)
COGNATE_GUEST_POOL_LIMIT = env.int("COGNATE_GUEST_POOL_LIMIT", default=1500)
COGNATE_GUEST_POOL_WINDOW = env.int("COGNATE_GUEST_POOL_WINDOW", default=60)
# Reverse proxies in front of the servers that append to X-Forwarded-For: the client address
# is the entry this many places from the end. 0 trusts no header (the peer's address).
COGNATE_TRUSTED_PROXY_HOPS = env.int("COGNATE_TRUSTED_PROXY_HOPS", default=0)


# --- Background jobs, Cognito Streams and Events (docs/operations.md) -------------------------
def _cron(name: str, default: str):
    """A crontab from a five-field cron expression ("minute hour day month weekday")."""
    from celery.schedules import crontab

    text = env.str(name, default=default)
    fields = text.split()
    if len(fields) != 5:
        raise ImproperlyConfigured(
            f"{name}={text!r} is not a cron expression of five fields "
            "(minute hour day-of-month month day-of-week), for example '30 3 * * *'."
        )
    minute, hour, day_of_month, month_of_year, day_of_week = fields
    return crontab(minute, hour, day_of_week, day_of_month, month_of_year)


# `celery -A config beat` runs these; `manage.py run_jobs` runs them once (for cron, or the
# embedded defaults, which have no beat).
CELERY_BEAT_SCHEDULE = {
    "retention": {
        "task": "syncstore.tasks.retention_run",
        "schedule": _cron("JOBS_RETENTION_CRON", "30 3 * * *"),
    },
    "signing-key-rotation": {
        "task": "syncstore.tasks.signing_key_rotation",
        "schedule": _cron("JOBS_KEY_ROTATION_CRON", "0 4 * * *"),
    },
    "streams-redeliver": {
        "task": "syncstore.tasks.streams_redeliver",
        "schedule": _cron("JOBS_STREAMS_REDELIVER_CRON", "* * * * *"),
    },
    "usage-flush": {
        "task": "syncstore.tasks.usage_flush",
        "schedule": _cron("JOBS_USAGE_FLUSH_CRON", "*/5 * * * *"),
    },
}
# The signing key in service is replaced once it is this old (0: never by the schedule).
COGNATE_SIGNING_KEY_MAX_AGE_DAYS = env.int("COGNATE_SIGNING_KEY_MAX_AGE_DAYS", default=90)
# Job reports (JobRun rows) are kept this long.
JOBS_REPORTS_KEEP_DAYS = env.int("JOBS_REPORTS_KEEP_DAYS", default=90)

# AWS services Cognate calls: Kinesis for Cognito Streams, Lambda for Sync Triggers. The
# credentials are boto3's usual ones (AWS_ACCESS_KEY_ID..., an instance role); the endpoints
# default to AWS's own and can point at any compatible service.
COGNATE_KINESIS_ENDPOINT_URL = env.str("COGNATE_KINESIS_ENDPOINT_URL", default="") or None
COGNATE_LAMBDA_ENDPOINT_URL = env.str("COGNATE_LAMBDA_ENDPOINT_URL", default="") or None
# Undelivered stream records are retried with exponential backoff up to this delay (seconds).
STREAMS_RETRY_MAX_DELAY = env.int("STREAMS_RETRY_MAX_DELAY", default=300)

# Sync Triggers (Cognito Events): the function or webhook has this long to answer (AWS: 5 s).
SYNC_TRIGGER_TIMEOUT = env.float("SYNC_TRIGGER_TIMEOUT", default=5.0)
# Webhook triggers must be https:// unless this is set (local development and tests).
SYNC_TRIGGER_ALLOW_HTTP = env.bool("SYNC_TRIGGER_ALLOW_HTTP", default=False)
# When set, webhook calls carry X-Cognate-Signature: sha256=<HMAC of the body with this key>.
SYNC_TRIGGER_WEBHOOK_SECRET = env.str("SYNC_TRIGGER_WEBHOOK_SECRET", default="")
