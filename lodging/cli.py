"""`flask --app wsgi tax rate …`: the accommodation tax of one guest's night, for scripts."""

from __future__ import annotations

from datetime import date

import click
from flask.cli import AppGroup

from lodging.tax import TaxTable

tax_cli = AppGroup("tax", help="Accommodation tax (宿泊税): the rates in force.")


@tax_cli.command("rate")
@click.option("--prefecture", type=click.IntRange(1, 47), required=True, help="JIS code, 1–47.")
@click.option("--municipality", default="", help="As facilities spell it, e.g. 京都市.")
@click.option(
    "--night",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    required=True,
    help="The night, YYYY-MM-DD.",
)
@click.option(
    "--price-per-person",
    type=click.IntRange(0),
    required=True,
    help="The charge per guest and night before consumption tax, in yen.",
)
def rate_command(prefecture: int, municipality: str, night, price_per_person: int) -> None:
    """Print the yen per guest for that night (0 where no tax is levied)."""
    night_date: date = night.date()
    click.echo(TaxTable.load().rate(prefecture, municipality.strip(), night_date, price_per_person))
