# berth/traces — the stack's optional trace viewer: Arize Phoenix, an OpenTelemetry (OTLP)
# receiver with a web UI, installed from the Python package index (no registry needed).
# Services send spans to it when BERTH_OTLP_ENDPOINT=http://traces:6006 (profile `traces`).
FROM berth/python:bookworm
ARG PIP_INDEX_URL=https://pypi.org/simple
ARG PHOENIX_VERSION=20.26.1
COPY build-ca.crt /etc/berth/build-ca.crt
RUN python3 -m venv /opt/phoenix \
 && PIP_CERT=/etc/berth/build-ca.crt PIP_INDEX_URL=${PIP_INDEX_URL} /opt/phoenix/bin/pip install --no-cache-dir \
      "arize-phoenix==${PHOENIX_VERSION}" \
 && useradd --system --uid 10002 --home-dir /var/lib/phoenix --create-home phoenix
ENV PHOENIX_PORT=6006 PHOENIX_WORKING_DIR=/var/lib/phoenix PATH=/opt/phoenix/bin:$PATH
USER phoenix
EXPOSE 6006
HEALTHCHECK --interval=5s --timeout=4s --start-period=60s --retries=10 \
  CMD ["python3", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:6006/', timeout=3)"]
CMD ["phoenix", "serve"]
