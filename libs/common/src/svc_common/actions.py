"""The body of one action on a resource (一个动作的请求体): a route per action
(`POST …/{id}/accept`, `…/reject`), each with exactly the fields its action
takes, so that the published schema says what each requires and a field it
does not take is refused by name (a 422) instead of dropped unseen."""

from __future__ import annotations

from typing import ClassVar

from pydantic import BaseModel, ConfigDict


class ActionBody(BaseModel):
    """Base of an action's body: any field not declared is refused, naming
    it; spaces around texts are stripped. A subclass names its action (its
    route's last path segment), which the service dispatches on."""

    model_config = ConfigDict(str_strip_whitespace=True, extra="forbid")
    #: The action the body is for.
    action: ClassVar[str]
