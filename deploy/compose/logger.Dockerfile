# berth/logger — the logger service on berth/stack-python:bookworm (see stack-python.Dockerfile).
# Dependencies come from the workspace lock (uv export), so a source change rebuilds only
# the last layers.
FROM berth/stack-python:bookworm
ARG PIP_INDEX_URL=https://pypi.org/simple
USER root
COPY requirements/logger.txt /tmp/req/logger.txt
RUN PIP_CERT=/etc/berth/build-ca.crt PIP_INDEX_URL=${PIP_INDEX_URL} pip install -r /tmp/req/logger.txt && rm -rf /tmp/req
COPY services/logger /src/services/logger
RUN pip install --no-deps --no-build-isolation /src/services/logger && rm -rf /src
ENV BERTH_SERVICE=logger BERTH_LOGGER_PORT=5004 BERTH_BIND_HOST=0.0.0.0
USER berth
EXPOSE 5004
HEALTHCHECK --interval=5s --timeout=4s --start-period=60s --retries=5 CMD ["python", "/opt/berth/lib/berth_stack.py", "healthcheck"]
CMD ["python", "-m", "berth_logger"]
