"""The forms of the alert page: what was posted, turned into the verbs' arguments, and kept with
its error so that the page can show it again beside the field, as typed.

An alert or case page carries several small forms (one per action). ``PostedForm`` remembers which
one was sent, its values and the refusal, so only that form opens again with its error.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, time

from werkzeug.datastructures import MultiDict

from salve.i18n import LOCAL_TZ

#: The longest note a form accepts (the verbs keep as much).
MAX_NOTE = 5000
#: The hour (El Salvador) at which a review date starts: the beginning of a working day.
REVIEW_HOUR = 8

#: The alert page's forms, by the status they move the alert to, and the inputs each shows.
TRANSITION_INPUTS: dict[str, tuple[str, ...]] = {
    "reconocida": (),
    "descartada": ("reason", "note"),
    "en_seguimiento": ("review_at", "note"),
    "resuelta": ("note",),
    "abierta": ("note",),
}
#: The other forms of the alert page.
OPEN_CASE = "caso"
REASSIGN = "reasignar"
REASSIGN_INPUTS = ("assignee", "note")


@dataclass
class PostedForm:
    """One posted form of a page with several: which one, what it carried, why it was refused."""

    action: str
    values: dict[str, str] = field(default_factory=dict)
    #: The inputs the form shows; an error on any other field is shown above the form.
    inputs: tuple[str, ...] = ()
    field: str = ""
    message: str = ""

    def is_for(self, action: str) -> bool:
        """Tell whether this is the form of ``action`` (to open it again)."""
        return self.action == action

    def value(self, action: str, name: str, default: str = "") -> str:
        """Return what was typed in ``name`` of the ``action`` form (else ``default``)."""
        return self.values.get(name, default) if self.action == action else default

    def error(self, action: str, name: str) -> str:
        """Return the refusal to show beside input ``name`` of the ``action`` form."""
        return self.message if self.action == action and self.field == name else ""

    def general_error(self, action: str) -> str:
        """Return a refusal of the ``action`` form that names none of its inputs."""
        if self.action == action and self.field not in self.inputs:
            return self.message
        return ""


def posted(form: MultiDict, action: str, inputs: tuple[str, ...]) -> PostedForm:
    """Return what the ``action`` form sent, each value capped just past what the page accepts.

    One character over the limit survives the cap, so the verb refuses the text as too long
    instead of storing it cut short.
    """
    return PostedForm(
        action=action,
        values={name: (form.get(name) or "")[: MAX_NOTE + 1] for name in inputs},
        inputs=inputs,
    )


def refused(form: PostedForm, error) -> PostedForm:
    """Attach a domain error (``AlertError`` or ``CaseError``) to the form that caused it."""
    form.field = error.field
    form.message = str(error.message)
    return form


def review_at(text: str) -> datetime | None:
    """Return a review date (``YYYY-MM-DD``, El Salvador) as the UTC start of its working day."""
    try:
        day = datetime.strptime(text.strip(), "%Y-%m-%d").date()
    except ValueError:
        return None
    return datetime.combine(day, time(REVIEW_HOUR), tzinfo=LOCAL_TZ)
