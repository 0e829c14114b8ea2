"""Stays waiting for approval over JSON API v1: the approver's queue
(``GET /api/v1/approvals``) and their decision on one stay (approve, reject, with an
optional comment).

Routes on the API blueprint (``booking.api.bp``: bearer tokens, its error shape); the
rules are ``booking.approvals``' (who may decide, under the stay's row lock).
"""

from __future__ import annotations

from flask import current_app, g, jsonify, request

from booking import approvals, services
from booking.api import _booking_json, _invalid_fields, _json_object, _raise_booking_error, bp
from booking.approvals import MAX_COMMENT, ApprovalError
from booking.models import StayApproval
from core.db import edge_now, tokyo_today
from core.errors import ApiError
from core.extensions import db


def _approval_json(approval: StayApproval) -> dict:
    """A stay's request for approval as the approver reads it: the stay, its employee,
    why it needs approval, until when, and the decision."""
    booking = approval.booking
    return {
        "booking_id": booking.id,
        "employee": {"id": booking.user_id, "name": booking.user.name},
        "booking": _booking_json(booking),
        "reasons": [code for code in approval.reasons.split(",") if code],
        "approver_id": approval.approver_id,
        "deputy_id": approval.deputy_id,
        "requested_at": approval.requested_at.isoformat(),
        "expires_at": approval.expires_at.isoformat(),
        "decision": approval.decision,
        "decided_by_id": approval.decided_by_id,
        "decided_at": approval.decided_at.isoformat() if approval.decided_at else None,
        "comment": approval.comment,
    }


@bp.get("/approvals")
def approval_queue():
    """The caller's queue: stays waiting for their decision, soonest to run out first,
    and their recent decisions."""
    found = approvals.approval_queue(g.api_user, tokyo_today(edge_now()))
    return jsonify(
        waiting=[_approval_json(a) for a in found.waiting],
        decided=[_approval_json(a) for a in found.decided],
    )


def _comment_body() -> str:
    """``comment`` of an optional JSON body (at most ``MAX_COMMENT`` characters)."""
    body = _json_object() if request.get_data() else {}
    comment = body.get("comment")
    if comment is None:
        return ""
    if not isinstance(comment, str) or len(comment.strip()) > MAX_COMMENT:
        raise _invalid_fields(
            {"comment": f"Text of at most {MAX_COMMENT} characters."},
            "Some fields are not valid: see 'fields'.",
        )
    return comment


def _decided(booking_id: int, decide) -> tuple:
    comment = _comment_body()
    try:
        booking = decide(comment)
    except ApprovalError as exc:
        db.session.rollback()
        if exc.code == "expired":
            raise ApiError(409, "expired", str(exc.message)) from None
        if exc.code == "not_pending":
            raise ApiError(409, "not_pending", str(exc.message)) from None
        if exc.code == "comment_too_long":
            raise _invalid_fields({"comment": str(exc.message)}, str(exc.message)) from None
        raise ApiError(404, "not_found", "No such stay waiting for your approval.") from None
    except services.BookingError as exc:  # the company's credit no longer covers it
        db.session.rollback()
        _raise_booking_error(exc)
    payload = _booking_json(booking)  # before the commit expires what it reads
    db.session.commit()
    return jsonify(payload), 200


@bp.post("/approvals/<int:booking_id>/approve")
def approve_stay(booking_id: int):
    """Approve a stay waiting for the caller's decision: it is confirmed (charged to the
    stay credit) or waits for the employee's payment of their part."""
    grace_days = current_app.config["BILLING_GRACE_DAYS"]
    return _decided(
        booking_id,
        lambda comment: approvals.approve(g.api_user, booking_id, comment, edge_now(), grace_days),
    )


@bp.post("/approvals/<int:booking_id>/reject")
def reject_stay(booking_id: int):
    """Reject a stay waiting for the caller's decision: its nights are released and
    nothing is charged."""
    return _decided(
        booking_id, lambda comment: approvals.reject(g.api_user, booking_id, comment, edge_now())
    )
