"""Settings shared by every environment; each may be overridden from the environment."""

import os
from pathlib import Path

import isodate

INSTANCE = Path(__file__).resolve().parent.parent / "instance"

#: The database; SQLite under instance/ is the embedded default, PostgreSQL is production.
SQLALCHEMY_DATABASE_URI = os.environ.get("DATABASE_URL", f"sqlite:///{INSTANCE / 'schedule.db'}")
SECRET_KEY = os.environ.get("SECRET_KEY", "dev-only-not-secret")
HOST = os.environ.get("HOST", "127.0.0.1")
PORT = int(os.environ.get("PORT", "8000"))
#: Redis for shared rate limits and caches; memory when unset.
REDIS_URL = os.environ.get("REDIS_URL")
#: How many reverse proxies in front of the service to trust for X-Forwarded-For/-Proto.
TRUSTED_PROXIES = int(os.environ.get("TRUSTED_PROXIES", "0"))
#: Public base URL used in promo links and feeds when no request is at hand.
PUBLIC_URL = os.environ.get("PUBLIC_URL", f"http://{HOST}:{PORT}")

LANGUAGES = ("en", "ru")
BABEL_DEFAULT_LOCALE = "en"
BABEL_TRANSLATION_DIRECTORIES = str(Path(__file__).resolve().parent.parent / "schedule_service" / "translations")

API_TITLE = "Schedule service"
API_VERSION = "v1"
OPENAPI_VERSION = "3.1.0"
OPENAPI_URL_PREFIX = "/api/v1"
OPENAPI_JSON_PATH = "openapi.json"
JSON_SORT_KEYS = False

#: How long a public read may be cached by browsers and proxies, in seconds.
PUBLIC_MAX_AGE = int(os.environ.get("PUBLIC_MAX_AGE", "60"))
#: How far ahead and back the schedule may be read in one request.
MAX_RANGE_DAYS = 31

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
#: How long a staff login lasts; the session cookie is refused after it.
SESSION_LIFETIME_HOURS = float(os.environ.get("SESSION_LIFETIME_HOURS", "12"))
WTF_CSRF_TIME_LIMIT = None

#: Publishing: lease on a claimed post, batch per tick, timeout per target call.
PUBLISH_LEASE_SECONDS = int(os.environ.get("PUBLISH_LEASE_SECONDS", "60"))
PUBLISH_BATCH = int(os.environ.get("PUBLISH_BATCH", "200"))
TARGET_TIMEOUT_SECONDS = float(os.environ.get("TARGET_TIMEOUT_SECONDS", "10"))
#: Sender threads per scheduler process.
PUBLISH_CONCURRENCY = int(os.environ.get("PUBLISH_CONCURRENCY", "8"))
#: Backoff of a failed post: the first wait, doubling up to the cap, for at most so many attempts.
PUBLISH_RETRY_BASE_SECONDS = float(os.environ.get("PUBLISH_RETRY_BASE_SECONDS", "5"))
PUBLISH_RETRY_CAP_SECONDS = float(os.environ.get("PUBLISH_RETRY_CAP_SECONDS", "900"))
PUBLISH_MAX_ATTEMPTS = int(os.environ.get("PUBLISH_MAX_ATTEMPTS", "8"))
#: Let targets be on loopback, private, link-local or multicast addresses: only for test setups
#: whose fake targets listen locally; otherwise an admin could aim the scheduler inside the network.
TARGETS_ALLOW_PRIVATE = os.environ.get("TARGETS_ALLOW_PRIVATE", "").lower() in ("1", "true", "yes", "on")
#: How long a worker trusts its last look at the schedule generation before asking again, seconds.
PUBLIC_GENERATION_TTL = float(os.environ.get("PUBLIC_GENERATION_TTL", "1"))
#: XMLTV import jobs: a claimed job whose process shows no sign of life this long is taken up again.
IMPORT_LEASE_SECONDS = int(os.environ.get("IMPORT_LEASE_SECONDS", "300"))

#: The largest request body, in bytes (413 beyond it); the XMLTV upload has its own limit.
MAX_CONTENT_LENGTH = int(os.environ.get("MAX_BODY_BYTES", str(1024 * 1024)))
#: The largest XMLTV guide the API and the staff pages take, in bytes.
XMLTV_UPLOAD_MAX_BYTES = int(os.environ.get("XMLTV_UPLOAD_MAX_BYTES", str(200 * 1024 * 1024)))
#: Paths whose bodies may be larger than MAX_CONTENT_LENGTH: the setting that holds their limit.
BODY_LIMITS = {"/api/v1/import/xmltv": "XMLTV_UPLOAD_MAX_BYTES", "/staff/imports": "XMLTV_UPLOAD_MAX_BYTES"}

#: A slot's promo posts are made once its first step is this far ahead (ISO 8601 duration, SPEC §8a).
PROMO_HORIZON = isodate.parse_duration(os.environ.get("PROMO_HORIZON", "P14D"))
#: How often the scheduler makes the posts of slots that have entered the horizon, seconds.
PROMO_SWEEP_SECONDS = float(os.environ.get("PROMO_SWEEP_SECONDS", "30"))

#: Uploaded pictures and their derived sizes, by content hash (nginx serves /pictures/ from here).
PICTURES_DIR = os.environ.get("PICTURES_DIR", str(INSTANCE / "pictures"))
#: Endpoints whose bodies may be larger than MAX_CONTENT_LENGTH: the setting that holds their limit.
ENDPOINT_BODY_LIMITS = {
    "staff.new_programme": "PICTURE_UPLOAD_MAX_BYTES",
    "staff.programme": "PICTURE_UPLOAD_MAX_BYTES",
    "programmes.ProgrammePicture": "PICTURE_UPLOAD_MAX_BYTES",
}
#: A picture upload's request: the 10 MB picture and the form around it.
PICTURE_UPLOAD_MAX_BYTES = 10 * 1024 * 1024 + 256 * 1024
