"""The lodging law's pages of the Engawa team: the accommodation tax table (宿泊税),
its rules by place, adding, editing and ending one (``lodging.tax_admin``, every
change audited), and the facilities offering stays without a licence. On the
``admin`` blueprint (platform admins only)."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from consoles.admin.company_views import actor
from consoles.admin.tax_forms import EndTaxRuleForm, TaxRuleForm, bracket_lines
from consoles.admin.views import bp
from core.db import edge_now, tokyo_today
from core.extensions import db
from core.i18n import current_locale, format_day
from facilities import services as facilities
from facilities.licences import LICENCE_LABELS
from lodging import tax_admin


def _place(prefecture: int, municipality: str) -> str:
    return tax_admin.place_name(prefecture, municipality, current_locale())


@bp.context_processor
def _tax_helpers() -> dict:
    return {"tax_bands": tax_admin.bands, "tax_place": _place}


@bp.get("/taxes")
def taxes():
    return render_template(
        "admin/taxes.html",
        places=tax_admin.rules_by_place(),
        today=tokyo_today(edge_now()),
    )


def _refused(form: TaxRuleForm, exc: tax_admin.TaxRuleError) -> None:
    db.session.rollback()
    field = form._fields.get(exc.field or "")
    if field is not None:
        field.errors = [*field.errors, exc.message]
    else:
        form.form_errors.append(exc.message)


def _form_page(form: TaxRuleForm, rule=None, error=None):
    status = 200 if not form.is_submitted() else (422 if error else 400)
    return render_template("admin/tax_form.html", form=form, rule=rule), status


@bp.route("/taxes/new", methods=["GET", "POST"])
def new_tax_rule():
    form = TaxRuleForm(locale=current_locale())
    if form.validate_on_submit():
        try:
            rule = tax_admin.add_rule(
                form.values(), actor=actor(), now=edge_now(), end_previous=form.end_previous.data
            )
        except tax_admin.TaxRuleError as exc:
            _refused(form, exc)
            return _form_page(form, error=exc)
        place = _place(rule.prefecture, rule.municipality)
        db.session.commit()
        flash(_("The tax rule of %(place)s has been added.", place=place), "success")
        return redirect(url_for("admin.taxes"), 303)
    return _form_page(form)


@bp.route("/taxes/<int:rule_id>/edit", methods=["GET", "POST"])
def edit_tax_rule(rule_id: int):
    rule = tax_admin.get_rule(rule_id)
    if rule is None:
        abort(404)
    form = TaxRuleForm(obj=rule, locale=current_locale())
    if request.method == "GET":
        form.brackets.data = bracket_lines(rule.brackets)
    if form.validate_on_submit():
        try:
            rule = tax_admin.update_rule(rule.id, form.values(), actor=actor(), now=edge_now())
        except tax_admin.TaxRuleError as exc:
            _refused(form, exc)
            return _form_page(form, tax_admin.get_rule(rule_id), error=exc)
        place = _place(rule.prefecture, rule.municipality)
        db.session.commit()
        flash(_("The tax rule of %(place)s has been saved.", place=place), "success")
        return redirect(url_for("admin.taxes"), 303)
    return _form_page(form, rule)


@bp.route("/taxes/<int:rule_id>/end", methods=["GET", "POST"])
def end_tax_rule(rule_id: int):
    rule = tax_admin.get_rule(rule_id)
    if rule is None:
        abort(404)
    form = EndTaxRuleForm()
    if request.method == "GET" and rule.effective_until:
        form.last_night.data = rule.effective_until
    status = 200
    if form.validate_on_submit():
        try:
            rule = tax_admin.end_rule(rule.id, form.last_night.data, actor=actor(), now=edge_now())
        except tax_admin.TaxRuleError as exc:
            db.session.rollback()
            form.last_night.errors = [*form.last_night.errors, exc.message]
            rule, status = tax_admin.get_rule(rule_id), 422
        else:
            place, last = _place(rule.prefecture, rule.municipality), rule.effective_until
            db.session.commit()
            flash(
                _(
                    "The tax rule of %(place)s now ends with the night of %(last)s.",
                    place=place,
                    last=format_day(last, "date"),
                ),
                "success",
            )
            return redirect(url_for("admin.taxes"), 303)
    elif form.is_submitted():
        status = 400
    return render_template("admin/tax_form.html", end_form=form, rule=rule), status


@bp.get("/licences")
def licences():
    """Open facilities that offer stays without a lodging licence: not listed until
    their operator enters it."""
    return render_template(
        "admin/licences.html",
        facilities=facilities.unlicensed_facilities(),
        licence_labels=LICENCE_LABELS,
        loc=current_locale(),
    )
