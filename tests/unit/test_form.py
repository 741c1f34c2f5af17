"""The launch form renders the catalogue and brings back a refused submission filled in."""

from __future__ import annotations

from arcade_hub.config import load_config
from arcade_hub.form import FormState, render_form
from arcade_hub.launch.choices import UserContext
from tests.planning import AllLocal
from tests.unit.test_options_policy import PLATFORM


def test_form_groups_entries_by_kind_with_unavailable_reasons() -> None:
    html = render_form(load_config(PLATFORM), AllLocal(), UserContext("u"))
    assert (
        html.index(">Notebooks</h2>")
        < html.index(">Desktops</h2>")
        < html.index(">Desktop apps</h2>")
    )
    assert 'value="notebook" checked' in html
    assert ">needs its container image<" in html  # casa-4.7 (the fake availability says so)
    assert 'name="custom_image"' not in html  # custom images not allowed
    assert 'data-casa="5.4"' in html  # dataset and CASA entry carry their versions for the script


def test_form_shows_only_datasets_of_the_users_groups() -> None:
    config = load_config(PLATFORM)
    assert "Secret survey" not in render_form(config, AllLocal(), UserContext("u"))
    member = UserContext("carol", frozenset({"survey-team"}))
    assert "Secret survey" in render_form(config, AllLocal(), member)


def test_refused_submission_comes_back_with_errors_and_values() -> None:
    state = FormState(
        values={"image": ["casa-6.7"], "cores": ["2"], "ram": ["9"], "dataset": ["alma-2019"]},
        errors={"ram": "9 is above the maximum of 4 GiB", "dataset": "needs CASA 5.4"},
    )
    html = render_form(load_config(PLATFORM), AllLocal(), UserContext("u"), state)
    assert 'value="casa-6.7" checked' in html
    assert '<option value="2" selected' in html
    assert '<option value="9" selected' in html  # an off-list value is kept, not dropped
    assert 'id="error-ram">9 is above the maximum of 4 GiB</p>' in html
    assert 'id="error-dataset">needs CASA 5.4</p>' in html
    assert "This session was not started" in html


def test_user_input_is_escaped() -> None:
    state = FormState(
        values={"custom_image": ['"><script>alert(1)</script>']}, errors={"image": "<b>bad</b>"}
    )
    html = render_form(load_config(PLATFORM), AllLocal(), UserContext("u"), state)
    assert "<b>bad</b>" not in html and "&lt;b&gt;bad&lt;/b&gt;" in html


def test_form_starts_with_an_interactive_batch_switch() -> None:
    config = load_config(PLATFORM)
    html = render_form(config, AllLocal(), UserContext("u"))
    switch = html.split('id="arcade-mode"')[1].split("</p>")[0]
    assert "Interactive" in switch and 'href="/services/arcade/jobs/new"' in switch
    assert html.index('id="arcade-mode"') < html.index("<legend>Software</legend>")
    moved = render_form(
        config, AllLocal(), UserContext("u"), batch_url="/astro/services/arcade/jobs/new"
    )
    assert 'href="/astro/services/arcade/jobs/new"' in moved


def test_a_dataset_selects_the_casa_that_serves_it_or_says_why_not() -> None:
    """The version recorded in the data (6.7.0.31) is served by casa-6.7.0; where casa-6.7.0
    cannot run, the form says so in a user's words and selects the nearest that can."""
    from arcade_hub.casa.detect import Detected
    from arcade_hub.config import load_config

    config = load_config(None)  # the default catalogue: CASA 6.6.5, 6.7.0 and 6.7.6

    class Only665(AllLocal):
        def unavailable_reason(self, entry):  # type: ignore[no-untyped-def]
            if entry.casa_version and entry.casa_version != "6.6.5":
                return f"{entry.title} is not installed on this machine"
            return super().unavailable_reason(entry)

    demo = config.datasets[0].id
    needed = {demo: Detected("6.7.0.31", "the history of alma-demo.ms")}
    html = render_form(config, AllLocal(), UserContext("u"), casa_needed=needed)
    assert 'data-casa="6.7.0.31" data-casa-select="casa-6.7.0"' in html
    state = FormState(values={"dataset": [demo]})
    html = render_form(config, Only665(), UserContext("u"), state, casa_needed=needed)
    assert 'data-casa-select="casa-6.6.5"' in html
    note = html.split('id="casa-note"')[1].split("</p>")[0]
    assert "This dataset needs CASA 6.7.0.31 (recorded in the history of alma-demo.ms)" in note
    assert "CASA 6.7.0 cannot run here: CASA 6.7.0 is not installed on this machine" in note
    assert "The nearest that can is CASA 6.6.5" in note
