from accounts.models import Role
from booking import services as booking_services
from tests.conftest import NOW, days


def test_smoke(
    app, db, client, login, make_user, make_facility, make_unit, make_employee, tmp_path
):
    app.instance_path = str(tmp_path)
    op = make_user(Role.OPERATOR)
    f = make_facility(operator=op.operator)
    u = make_unit(facility=f)
    make_unit(facility=f)
    b = booking_services.book_stay(make_employee(), u.id, days(0), days(3), 1, NOW)
    db.session.commit()
    login(op)
    for path in [
        "/operator/",
        f"/operator/facilities/{f.id}",
        f"/operator/facilities/{f.id}/edit",
        "/operator/facilities/new",
        f"/operator/facilities/{f.id}/units/new",
        f"/operator/units/{u.id}/edit",
        f"/operator/facilities/{f.id}/close",
        f"/operator/facilities/{f.id}/today",
        f"/operator/facilities/{f.id}/housekeeping",
        f"/operator/facilities/{f.id}/occupancy",
        f"/operator/facilities/{f.id}/calendar",
        f"/operator/facilities/{f.id}/bookings.csv",
    ]:
        r = client.get(path)
        assert r.status_code == 200, (path, r.get_data(as_text=True)[-3000:])
    r = client.post(
        f"/operator/facilities/{f.id}/close",
        data={
            "unit": str(u.id),
            "first_night": days(5).isoformat(),
            "last_night": days(7).isoformat(),
            "reason": "maintenance",
            "note": "paint",
        },
    )
    assert r.status_code == 303, r.get_data(as_text=True)
    r = client.get(r.headers["Location"])
    open("/tmp/smoke/cal.html", "w").write(r.get_data(as_text=True))
    open("/tmp/smoke/occ.html", "w").write(
        client.get(f"/operator/facilities/{f.id}/occupancy").get_data(as_text=True)
    )
    open("/tmp/smoke/today.html", "w").write(
        client.get(f"/operator/facilities/{f.id}/today").get_data(as_text=True)
    )
    open("/tmp/smoke/csv.csv", "wb").write(
        client.get(f"/operator/facilities/{f.id}/bookings.csv").data
    )
