from tests.booking.test_bad_input import *  # noqa
def test_dbg(db, world):
    r = world.web.get("/book", query_string={"unit_id": world.unit_id, "check_in": "2026-12-12", "check_out": "2026-12-10", "guests": 1})
    print("QUOTE", r.status_code, r.headers.get("Location"))
    r = world.web.post("/book", data={"unit_id": "abc", "check_in": "2026-12-12", "check_out": "2026-12-14", "guests": 1})
    print("BOOK", r.status_code, r.headers.get("Location"), r.get_data(as_text=True)[:500])
