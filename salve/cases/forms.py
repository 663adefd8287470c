"""The forms of the case page: their names, the inputs each shows, and what they posted.

Each form is named by its action; forms about one referral or one step carry its id in the name
(``referencia-7-rechazada``, ``paso-12``), so a refusal reopens exactly the form that was sent.
"""

from __future__ import annotations

from werkzeug.datastructures import MultiDict

from salve.alerts.forms import PostedForm, posted

FOLLOW_UP = "seguimiento"
REFER = "referir"
CLOSURE = "cierre"
APPROVE = "aprobar"
REFUSE = "devolver"
REOPEN = "reabrir"

#: The inputs each form shows.
INPUTS: dict[str, tuple[str, ...]] = {
    FOLLOW_UP: ("note",),
    REFER: ("institution", "reference", "note"),
    CLOSURE: ("summary",),
    APPROVE: (),
    REFUSE: ("reason",),
    REOPEN: ("reason",),
}
REFERRAL_INPUTS = ("reason", "reference")
STEP_INPUTS = ("note",)


def referral_action(referral_id: int, to: str) -> str:
    """Return the name of the form that moves referral ``referral_id`` to ``to``."""
    return f"referencia-{referral_id}-{to}"


def step_action(step_id: int) -> str:
    """Return the name of the form that marks step ``step_id`` done."""
    return f"paso-{step_id}"


def posted_case_form(form: MultiDict, action: str) -> PostedForm:
    """Return what the ``action`` form of the case page sent."""
    if action.startswith("referencia-"):
        return posted(form, action, REFERRAL_INPUTS)
    if action.startswith("paso-"):
        return posted(form, action, STEP_INPUTS)
    return posted(form, action, INPUTS.get(action, ()))
