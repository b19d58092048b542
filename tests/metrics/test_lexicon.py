"""The emotion-wheel lexicon shipped as package data."""

from acoustemo.metrics.lexicon import load_lexicon


def test_sizes_match_the_ovmer_lexicon():
    lex = load_lexicon()
    assert len(lex.words) == 1255  # format.csv names
    assert len(lex.wheel_words) == 253  # synonym.csv words
    assert len(lex.surface_to_words) == 7386  # every surface form, lexicon words included
    assert len(lex.wheels) == 5
    # every wheel word sits in at least one wheel
    in_wheels = set().union(*(w.words for w in lex.wheels))
    assert set(lex.wheel_words) <= in_wheels


def test_surface_form_to_word_to_group():
    lex = load_lexicon()
    assert lex.word(" Abandonment ") == "abandoned"
    assert lex.word("no-such-emotion") is None
    assert lex.synonym_group("no-such-emotion") is None
    assert "abandonment" in lex.surface_forms("abandoned")
    group = lex.synonym_group("abandonment")
    assert group in lex.wheel_words
    assert lex.word("abandoned") in lex.synonyms("abandonment")


def test_wheels_fill_blank_cells_and_strip_spaces():
    lex = load_lexicon()
    # wheel1.csv rows 2-3: "Mad,Offended,Skeptical" then ",,Insulated"
    assert lex.wheels[0].level1["insulated"] == "mad"
    assert lex.wheels[0].level2["insulated"] == "offended"
    # wheel5.csv cells carry surrounding spaces: " Mad , Hurt , Jealous "
    assert lex.wheels[4].level1["jealous"] == "mad"
    assert lex.wheel_cluster("Jealous", 5, "level2") == lex.wheels[4].level2["jealous"]
