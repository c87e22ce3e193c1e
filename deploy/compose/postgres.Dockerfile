# berth/postgres:15-bookworm — Debian's postgresql-15 (the rootfs berth/postgres-rootfs:bookworm
# is debootstrapped by deploy/offline/build-stack-images.sh) with an entrypoint that creates
# the cluster on first start and, on every start, the database, one role and one schema per
# service (postgres-init.sql; passwords from the environment).
FROM berth/postgres-rootfs:bookworm
ENV PATH=/usr/lib/postgresql/15/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    PGDATA=/var/lib/postgresql/data LANG=C.UTF-8
COPY deploy/compose/postgres-entrypoint.sh /usr/local/bin/berth-postgres
COPY deploy/compose/postgres-init.sql /etc/berth/postgres-init.sql
RUN chmod 755 /usr/local/bin/berth-postgres \
 && mkdir -p /var/lib/postgresql/data /var/run/postgresql \
 && chown -R postgres:postgres /var/lib/postgresql /var/run/postgresql && chmod 700 /var/lib/postgresql/data
USER postgres
VOLUME /var/lib/postgresql/data
EXPOSE 5432
STOPSIGNAL SIGINT
HEALTHCHECK --interval=3s --timeout=3s --start-period=30s --retries=10 \
  CMD ["pg_isready", "-h", "127.0.0.1", "-p", "5432", "-d", "berth", "-U", "berth_api", "-q"]
ENTRYPOINT ["/usr/local/bin/berth-postgres"]
