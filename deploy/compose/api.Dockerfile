# berth/api — the api service on berth/stack-python:bookworm (see stack-python.Dockerfile).
# Dependencies come from the workspace lock (uv export), so a source change rebuilds only
# the last layers.
FROM berth/stack-python:bookworm
ARG PIP_INDEX_URL=https://pypi.org/simple
USER root
# git: the api keeps the apps' git repositories (`git push berth main`)
RUN apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends git >/dev/null \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /usr/share/doc/* /usr/share/man/* \
 && install -d -o berth -g berth /var/lib/berth/git
COPY requirements/api.txt /tmp/req/api.txt
RUN PIP_CERT=/etc/berth/build-ca.crt PIP_INDEX_URL=${PIP_INDEX_URL} pip install -r /tmp/req/api.txt && rm -rf /tmp/req
COPY services/api /src/services/api
RUN pip install --no-deps --no-build-isolation /src/services/api && rm -rf /src
ENV BERTH_SERVICE=api BERTH_API_PORT=5000 BERTH_BIND_HOST=0.0.0.0
USER berth
EXPOSE 5000
HEALTHCHECK --interval=5s --timeout=4s --start-period=60s --retries=5 CMD ["python", "/opt/berth/lib/berth_stack.py", "healthcheck"]
CMD ["python", "-m", "berth_api"]
