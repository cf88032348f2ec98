"""Generate the demo's ``users.csv``: a few thousand users with some deliberately bad records.

python -m csvdock.edges.demo demo/users.csv [--rows 5000] [--seed 7]
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import random
from pathlib import Path

HEADER = [
    "id",
    "Name",
    "Email",
    "Age",
    "Balance",
    "Signup Date",
    "Last Login",
    "Active",
    "ZIP",
    "City",
]
CITIES = ["Zürich", "São Paulo", "Kraków", "Oslo", "Dublin", "Москва", "東京", "Austin"]
NAMES = ["Ada", "Grace", "Linus", "Guido", "Margaret", "Ken", "Barbara", "Edsger", "Frances"]


def write_users_csv(path: Path, rows: int = 5000, seed: int = 7) -> dict[str, int]:
    """Write the demo file and return how many bad records of each kind it holds."""
    rng = random.Random(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    bad = {"missing_field": 0, "extra_field": 0, "bad_age": 0, "bad_date": 0}
    start = dt.date(2015, 1, 1)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADER)
        for i in range(1, rows + 1):
            name = rng.choice(NAMES)
            signup = start + dt.timedelta(days=rng.randrange(3000))
            login = dt.datetime.combine(signup, dt.time()) + dt.timedelta(
                seconds=rng.randrange(10**7)
            )
            record = [
                str(i),
                f"{name} {chr(65 + i % 26)}." if i % 97 else f"{name}\n(second line)",
                f"{name.lower()}{i}@example.com",
                str(rng.randrange(18, 90)),
                f"{rng.randrange(-5000, 100000) / 100:.2f}",
                signup.isoformat(),
                login.isoformat(sep=" "),
                rng.choice(["true", "false"]),
                f"{rng.randrange(0, 99999):05d}",
                rng.choice(CITIES),
            ]
            if i % 1000 == 500:
                record = record[:-2]
                bad["missing_field"] += 1
            elif i % 1000 == 750:
                record.append("surplus")
                bad["extra_field"] += 1
            elif i % 2000 == 1234:
                record[3] = "forty"
                bad["bad_age"] += 1
            elif i == 4321:
                record[5] = "2021-02-30"
                bad["bad_date"] += 1
            writer.writerow(record)
    return bad


def main() -> None:
    """Command-line entry: write the file and say what it contains."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("path", type=Path)
    parser.add_argument("--rows", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    bad = write_users_csv(args.path, args.rows, args.seed)
    print(f"wrote {args.path}: {args.rows} records, deliberately bad: {bad}")


if __name__ == "__main__":
    main()
