# berth/stack-python:bookworm — the base of every Berth service image: Debian's python3
# (from berth/python:bookworm, built from Debian packages by deploy/offline/build-images.sh),
# a virtualenv in /opt/berth with berth-common and its locked dependencies, a non-root user.
# Built by deploy/offline/build-stack-images.sh from a staged context (never pulls).
FROM berth/python:bookworm
ARG PIP_INDEX_URL=https://pypi.org/simple
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    PATH=/opt/berth/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
COPY build-ca.crt /etc/berth/build-ca.crt
RUN groupadd --system --gid 10001 berth \
 && useradd --system --uid 10001 --gid berth --home-dir /var/lib/berth --create-home --shell /usr/sbin/nologin berth \
 && python3 -m venv /opt/berth
COPY requirements/common.txt /tmp/req/common.txt
# hatchling: the workspace packages' build backend, so they install without build isolation
RUN PIP_CERT=/etc/berth/build-ca.crt PIP_INDEX_URL=${PIP_INDEX_URL} pip install -r /tmp/req/common.txt hatchling
COPY libs/berth-common /src/libs/berth-common
RUN PIP_CERT=/etc/berth/build-ca.crt PIP_INDEX_URL=${PIP_INDEX_URL} pip install --no-deps --no-build-isolation /src/libs/berth-common && rm -rf /src /tmp/req
COPY deploy/compose/berth_stack.py /opt/berth/lib/berth_stack.py
USER berth
WORKDIR /var/lib/berth
