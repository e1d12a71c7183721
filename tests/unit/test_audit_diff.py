from dashboards.diff import FieldChange, changes


def test_a_change_highlights_what_differs_and_keeps_the_rest_as_context():
    rows = changes({"name": "ci", "role": "viewer"}, {"role": "admin", "name": "ci"})
    assert rows == [FieldChange("name", "ci", "ci", False), FieldChange("role", "viewer", "admin", True)]


def test_keys_on_one_side_only_are_context_when_both_sides_have_values():
    rows = changes({"name": "ci", "revoked": False}, {"revoked": True})
    assert rows == [FieldChange("name", "ci", None, False), FieldChange("revoked", "false", "true", True)]


def test_a_creation_highlights_every_new_value():
    assert changes(None, {"scopes": ["log"], "rate": 5}) == [
        FieldChange("scopes", None, "log", True),
        FieldChange("rate", None, "5", True),
    ]


def test_lists_read_as_words_and_an_empty_list_says_so():
    rows = changes({"scopes": ["log", "metric"]}, {"scopes": []})
    assert rows == [FieldChange("scopes", "log, metric", "(none)", True)]
