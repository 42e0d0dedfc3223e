"""What an answer shows: a column its WHERE fixes to one value is not repeated on every row."""

import pytest

from finsql.ask.projection import without_fixed


def test_a_column_fixed_to_one_literal_is_not_shown():
    sql = "SELECT bond_name, credit_rating FROM bond WHERE credit_rating = 'AAA' AND term_years > 3"
    assert without_fixed(sql) == "SELECT bond_name FROM bond WHERE credit_rating = 'AAA' AND term_years > 3"
    joined = "SELECT b.bond_name, b.market AS m FROM bond b JOIN s ON b.x = s.x WHERE (b.market = 'SSE')"
    assert (
        without_fixed(joined)
        == "SELECT b.bond_name FROM bond AS b JOIN s ON b.x = s.x WHERE (b.market = 'SSE')"
    )


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT credit_rating FROM bond WHERE credit_rating = 'AAA'",  # nothing else would be shown
        "SELECT bond_name, credit_rating FROM bond WHERE credit_rating = 'AAA' OR term_years > 3",
        "SELECT bond_name, credit_rating FROM bond WHERE credit_rating <> 'AAA'",
        "SELECT bond_name, term_years FROM bond WHERE term_years = 3",  # a number may be the figure asked
        "SELECT b.bond_name, c.market FROM bond b JOIN s c ON b.x = c.x WHERE b.market = 'SSE'",
        "SELECT bond_name FROM bond",
    ],
)
def test_columns_not_fixed_to_one_value_stay(sql):
    assert without_fixed(sql) is None
