# berth/router — the router service on berth/stack-python:bookworm (see stack-python.Dockerfile).
# Dependencies come from the workspace lock (uv export), so a source change rebuilds only
# the last layers.
FROM berth/stack-python:bookworm
ARG PIP_INDEX_URL=https://pypi.org/simple
USER root
RUN install -d -o berth -g berth /var/lib/berth/router
COPY requirements/router.txt /tmp/req/router.txt
RUN PIP_CERT=/etc/berth/build-ca.crt PIP_INDEX_URL=${PIP_INDEX_URL} pip install -r /tmp/req/router.txt && rm -rf /tmp/req
COPY services/router /src/services/router
RUN pip install --no-deps --no-build-isolation /src/services/router && rm -rf /src
ENV BERTH_SERVICE=router BERTH_ROUTER_PORT=5003 BERTH_BIND_HOST=0.0.0.0
USER berth
EXPOSE 5003
HEALTHCHECK --interval=5s --timeout=4s --start-period=60s --retries=5 CMD ["python", "/opt/berth/lib/berth_stack.py", "healthcheck"]
CMD ["python", "-m", "berth_router"]
