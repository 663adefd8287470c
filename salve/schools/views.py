"""School pages: the list in the user's scope, a school's page, its student roll."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, render_template, request
from flask_login import current_user, login_required

from salve.audit.operations import record
from salve.auth.scope import can_list_students, require
from salve.extensions import db
from salve.geography.models import Department
from salve.pagination import page_number
from salve.schools import queries
from salve.web import writes_on_read

bp = Blueprint("schools", __name__, url_prefix="/escuelas")


@bp.route("/")
@login_required
def index():
    """List the schools in the user's scope, with search and department filter."""
    search = request.args.get("q", "").strip()
    department_code = request.args.get("departamento", "").strip()
    page = queries.school_list(
        current_user,
        search=search,
        department_code=department_code,
        page=page_number(),
        per_page=current_app.config["PAGE_SIZE"],
    )
    departments = db.session.scalars(db.select(Department).order_by(Department.code)).all()
    return render_template(
        "schools/index.html",
        page=page,
        search=search,
        department_code=department_code,
        departments=departments,
    )


@bp.route("/<code>")
@login_required
def show(code: str):
    """Show a school's profile and roll figures (no names)."""
    school = queries.find_visible_school(current_user, code)
    require(school is not None)
    department, municipality, district = queries.school_location(school)
    return render_template(
        "schools/show.html",
        school=school,
        department=department,
        municipality=municipality,
        district=district,
        summary=queries.roll_summary(school),
        can_see_roll=can_list_students(current_user, school),
    )


@bp.route("/<code>/estudiantes")
@login_required
@writes_on_read
def students(code: str):
    """Show a school's student roll by name, to the school's own staff only; audited."""
    school = queries.find_visible_school(current_user, code)
    require(school is not None)
    if not can_list_students(current_user, school):
        abort(403)
    search = request.args.get("q", "").strip()
    page = queries.student_roll(
        current_user,
        school,
        search=search,
        page=page_number(),
        per_page=current_app.config["PAGE_SIZE"],
    )
    record(
        "student_roll.view",
        "school",
        school.code,
        page=page.page,
        shown=len(page.items),
        students=[student.id for student in page.items],
    )
    return render_template("schools/students.html", school=school, page=page, search=search)
