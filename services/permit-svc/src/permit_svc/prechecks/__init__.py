"""Pre-acceptance checks of permit applications (许可申请受理前自动校验):
advisory checks (提示) judged when an application is accepted and kept on
it, judged again on request, and a dry run of an application's body."""
