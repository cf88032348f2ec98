from csvdock.core.naming import (
    quote_identifier,
    snake_case_name,
    split_table_name,
    unique_column_names,
)
from csvdock.targets.url import masked_url


def test_header_names_become_unique_snake_case():
    assert unique_column_names(["Signup Date", "signup_date", "", "Zürich Ø", "1st", "a;DROP"]) == [
        "signup_date",
        "signup_date_2",
        "column_3",
        "zurich",
        "c_1st",
        "a_drop",
    ]


def test_camel_case_is_split():
    assert snake_case_name("lastLoginAt") == "last_login_at"


def test_identifiers_are_quoted_with_doubled_quotes():
    assert quote_identifier('a"b') == '"a""b"'


def test_schema_qualified_table_names():
    assert split_table_name("Sales.Orders 2024") == ("sales", "orders_2024")
    assert split_table_name("users") == (None, "users")


def test_passwords_are_masked():
    assert masked_url("postgresql://bob:s3cret@db:5432/x") == "postgresql://bob:***@db:5432/x"
    assert (
        masked_url("postgresql://db/x?password=s3cret&a=1") == "postgresql://db/x?password=***&a=1"
    )
    assert masked_url("duckdb:///w.duckdb") == "duckdb:///w.duckdb"
