# riverbot in a container: `docker build -t riverbot .`, then see deploy/compose.yaml and README "Deploy".
#
# Two stages: the first builds riverbot and every dependency into wheels, the second installs only those (no
# compiler, no pip cache, no source tree), runs as its own user and keeps everything it writes in /data.

FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md LICENSE ./
COPY bot ./bot
COPY handlers ./handlers
COPY storage ./storage
COPY locales ./locales
COPY sandbox ./sandbox
COPY examples ./examples
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11-slim

# The CJK font draws the Chinese on evidence photos and weekly charts (without it, boxes). Its version follows the
# base image's Debian release, so it is not pinned here.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends fonts-wqy-microhei \
    && rm -rf /var/lib/apt/lists/*

# The exact wheels built above, nothing fetched a second time.
COPY --from=build /wheels /wheels
# hadolint ignore=DL3013
RUN pip install --no-cache-dir --no-index --find-links /wheels riverbot \
    && rm -rf /wheels

# Its own user, no login: whoever breaks into the bot can write only to /data and its home.
# Its home is a scratch place for what a command writes where it is run (`riverbot export --out x.xlsx`), which
# is refused inside DATA_DIR.
RUN groupadd --system --gid 10001 riverbot \
    && useradd --system --uid 10001 --gid riverbot --create-home --home-dir /home/riverbot \
        --shell /usr/sbin/nologin riverbot \
    && mkdir /data \
    && chown riverbot:riverbot /data

# The settings come from the environment (compose's env_file); the database, photos and backups live in /data.
# WEBHOOK_LISTEN matters only in webhook mode: inside a container the bot must listen beyond its own loopback.
ENV DATA_DIR=/data \
    WEBHOOK_LISTEN=0.0.0.0:8443 \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
VOLUME ["/data"]
WORKDIR /home/riverbot
# By number, so that a host's tools (and Kubernetes' runAsNonRoot) see a non-root user without /etc/passwd.
USER 10001:10001
# Only in webhook mode (WEBHOOK_URL set); long polling, the default, listens on nothing.
EXPOSE 8443

# `riverbot status` exits 1 when the bot's heartbeat (written every minute) is older than STATUS_HEARTBEAT_MAX_S,
# the inbox is behind, the last backup is too old or the disk is nearly full.
HEALTHCHECK --interval=60s --timeout=30s --start-period=120s --retries=3 CMD ["riverbot", "status"]

# Exit codes: 2 = a bad setting (fix .env; don't restart), 3 = Telegram unreachable (restart after a pause).
CMD ["riverbot", "run"]
