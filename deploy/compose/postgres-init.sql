-- Berth's database: one database, one role and one schema per service. Each role owns its
-- schema and has no right on any other, so a service reading another's tables fails at the
-- database. Run by the postgres entrypoint on every start (idempotent); psql variables
-- pw_<service> carry the passwords.
SELECT 'CREATE DATABASE berth' WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = 'berth') \gexec

SELECT format('CREATE ROLE %I LOGIN', r) FROM unnest(ARRAY['berth_api', 'berth_builder', 'berth_scheduler', 'berth_router', 'berth_logger']) AS r
 WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) \gexec
ALTER ROLE berth_api       WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD :'pw_api';
ALTER ROLE berth_builder   WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD :'pw_builder';
ALTER ROLE berth_scheduler WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD :'pw_scheduler';
ALTER ROLE berth_router    WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD :'pw_router';
ALTER ROLE berth_logger    WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD :'pw_logger';

\connect berth
REVOKE ALL ON DATABASE berth FROM PUBLIC;
REVOKE ALL ON SCHEMA public FROM PUBLIC;
GRANT CONNECT, TEMPORARY ON DATABASE berth TO berth_api, berth_builder, berth_scheduler, berth_router, berth_logger;
-- No CREATE on the database: each role gets only the schema made for it below (a service's
-- migrations create their schema only when it is missing).
REVOKE CREATE ON DATABASE berth FROM berth_api, berth_builder, berth_scheduler, berth_router, berth_logger;

CREATE SCHEMA IF NOT EXISTS api       AUTHORIZATION berth_api;
CREATE SCHEMA IF NOT EXISTS builder   AUTHORIZATION berth_builder;
CREATE SCHEMA IF NOT EXISTS scheduler AUTHORIZATION berth_scheduler;
CREATE SCHEMA IF NOT EXISTS router    AUTHORIZATION berth_router;
CREATE SCHEMA IF NOT EXISTS logger    AUTHORIZATION berth_logger;
-- a schema created before this script ran keeps its rights: make sure of the owner
ALTER SCHEMA api       OWNER TO berth_api;
ALTER SCHEMA builder   OWNER TO berth_builder;
ALTER SCHEMA scheduler OWNER TO berth_scheduler;
ALTER SCHEMA router    OWNER TO berth_router;
ALTER SCHEMA logger    OWNER TO berth_logger;
REVOKE ALL ON SCHEMA api, builder, scheduler, router, logger FROM PUBLIC;

ALTER ROLE berth_api       IN DATABASE berth SET search_path = api;
ALTER ROLE berth_builder   IN DATABASE berth SET search_path = builder;
ALTER ROLE berth_scheduler IN DATABASE berth SET search_path = scheduler;
ALTER ROLE berth_router    IN DATABASE berth SET search_path = router;
ALTER ROLE berth_logger    IN DATABASE berth SET search_path = logger;
