from svc_common.migrate import run_env

from eia_svc.models import metadata

run_env(metadata)
