-- One database and one login role per service, for the docker compose stack.
--
-- The postgres image runs this once, as the superuser, when its data volume
-- is empty (/docker-entrypoint-initdb.d). To re-run it: `docker compose down -v`.
--
-- No service reads another's tables: each role owns only its own database,
-- and PUBLIC may not connect to any of them. The passwords are for a local
-- stack only; they must match the DATABASE_URLs in docker-compose.yml
-- (tests/test_deploy_manifests.py checks that). Production databases and
-- credentials come from the platform (deploy/k8s: a Secret per service).
--
-- Tables are created by each service's own Alembic migrations at start-up
-- (RUN_MIGRATIONS=true), as the owning role.

CREATE ROLE permit_svc LOGIN PASSWORD 'permit-dev-password';
CREATE ROLE quota_svc LOGIN PASSWORD 'quota-dev-password';
CREATE ROLE eia_svc LOGIN PASSWORD 'eia-dev-password';
CREATE ROLE supervision_svc LOGIN PASSWORD 'supervision-dev-password';

CREATE DATABASE permit OWNER permit_svc ENCODING 'UTF8' TEMPLATE template0;
CREATE DATABASE quota OWNER quota_svc ENCODING 'UTF8' TEMPLATE template0;
CREATE DATABASE eia OWNER eia_svc ENCODING 'UTF8' TEMPLATE template0;
CREATE DATABASE supervision OWNER supervision_svc ENCODING 'UTF8' TEMPLATE template0;

REVOKE ALL ON DATABASE permit FROM PUBLIC;
REVOKE ALL ON DATABASE quota FROM PUBLIC;
REVOKE ALL ON DATABASE eia FROM PUBLIC;
REVOKE ALL ON DATABASE supervision FROM PUBLIC;
