from svc_common.migrate import run_env

from supervision_svc.models import metadata

run_env(metadata)
