from svc_common.migrate import run_env

from quota_svc.models import metadata

run_env(metadata)
