# berth/builder — the builder service on berth/stack-python:bookworm (see stack-python.Dockerfile).
# Dependencies come from the workspace lock (uv export), so a source change rebuilds only
# the last layers.
FROM berth/stack-python:bookworm
ARG PIP_INDEX_URL=https://pypi.org/simple
USER root
RUN install -d -o berth -g berth /var/cache/berth-build
COPY requirements/builder.txt /tmp/req/builder.txt
RUN PIP_CERT=/etc/berth/build-ca.crt PIP_INDEX_URL=${PIP_INDEX_URL} pip install -r /tmp/req/builder.txt && rm -rf /tmp/req
COPY services/builder /src/services/builder
RUN pip install --no-deps --no-build-isolation /src/services/builder && rm -rf /src
ENV BERTH_SERVICE=builder BERTH_BUILDER_PORT=5001 BERTH_BIND_HOST=0.0.0.0
USER berth
EXPOSE 5001
HEALTHCHECK --interval=5s --timeout=4s --start-period=60s --retries=5 CMD ["python", "/opt/berth/lib/berth_stack.py", "healthcheck"]
CMD ["python", "-m", "berth_builder"]
