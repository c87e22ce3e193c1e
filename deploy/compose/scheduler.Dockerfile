# berth/scheduler — the scheduler service on berth/stack-python:bookworm (see stack-python.Dockerfile).
# Dependencies come from the workspace lock (uv export), so a source change rebuilds only
# the last layers.
FROM berth/stack-python:bookworm
ARG PIP_INDEX_URL=https://pypi.org/simple
USER root
COPY requirements/scheduler.txt /tmp/req/scheduler.txt
RUN PIP_CERT=/etc/berth/build-ca.crt PIP_INDEX_URL=${PIP_INDEX_URL} pip install -r /tmp/req/scheduler.txt && rm -rf /tmp/req
COPY services/scheduler /src/services/scheduler
RUN pip install --no-deps --no-build-isolation /src/services/scheduler && rm -rf /src
ENV BERTH_SERVICE=scheduler BERTH_SCHEDULER_PORT=5002 BERTH_BIND_HOST=0.0.0.0
USER berth
EXPOSE 5002
HEALTHCHECK --interval=5s --timeout=4s --start-period=60s --retries=5 CMD ["python", "/opt/berth/lib/berth_stack.py", "healthcheck"]
CMD ["python", "-m", "berth_scheduler"]
