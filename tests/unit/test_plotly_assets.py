"""Which <style> elements Plotly's bundle would insert itself (the CSP refuses them), read from the bundle."""

from dashboards.views.assets import PLOTLY_INLINE_STYLE_IDS, inline_style_ids


def test_the_ids_of_self_inserted_style_elements_are_found_once_each():
    script = (
        'var a=W(()=>{if(!document.getElementById("abc123")){var e=document.createElement("style");e.id="abc123"}});'
        'var b=W(()=>{if(!document.getElementById("abc123")){var e=document.createElement("style");e.id="abc123"}});'
        'var c=document.getElementById("other");var d=document.createElement("div");'
    )
    assert inline_style_ids(script) == ("abc123",)


def test_the_installed_bundle_has_the_maplibre_sheet_to_skip():
    # If a plotly upgrade changes how the bundle inserts it, this fails instead of the console filling up.
    assert len(PLOTLY_INLINE_STYLE_IDS) == 1 and len(PLOTLY_INLINE_STYLE_IDS[0]) == 64
