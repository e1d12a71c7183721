from dashboards.diff import FieldChange, changes


def test_keys_of_both_sides_in_order_with_what_changed():
    rows = changes({"role": "viewer", "email": "a@b.c"}, {"role": "admin", "email": "a@b.c", "note": ["x"]})
    assert rows == [
        FieldChange("role", "viewer", "admin"),
        FieldChange("email", "a@b.c", "a@b.c"),
        FieldChange("note", None, '["x"]'),
    ]
    assert [r.changed for r in rows] == [True, False, True]


def test_a_creation_has_only_new_values():
    assert changes(None, {"revoked": True}) == [FieldChange("revoked", None, "true")]
