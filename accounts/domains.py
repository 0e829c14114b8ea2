"""E-mail domains that prove nothing about an employer."""

from __future__ import annotations

from pathlib import Path

# Anyone can have an address at these, so owning one proves no tie to a company. A
# subdomain counts too (ab.so-net.ne.jp, xyz.ocn.ne.jp: ISPs hand out addresses at
# regional subdomains). The list only stops the obvious; every join domain also
# waits for the platform admin's approval.
FREE_MAIL_DOMAINS_FILE = Path(__file__).resolve().parent / "data" / "free-mail-domains.txt"
FREE_MAIL_DOMAINS = frozenset(
    line.strip()
    for line in FREE_MAIL_DOMAINS_FILE.read_text(encoding="utf-8").splitlines()
    if line.strip() and not line.startswith("#")
)
