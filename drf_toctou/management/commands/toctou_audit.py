import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from drf_toctou.audit import SEVERITY, audit


class Command(BaseCommand):
    help = "Report, per DRF endpoint and method, whether it is protected against TOCTOU races."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--format", choices=["table", "json"], default="table")
        parser.add_argument("--fail-on", choices=["warning", "error"], help="exit 1 on findings of this level or worse")
        parser.add_argument("--urlconf", help="dotted path of a URLconf (default: ROOT_URLCONF)")

    def handle(self, *args: Any, **options: Any) -> None:
        endpoints = audit(options["urlconf"])
        if options["format"] == "json":
            self.stdout.write(json.dumps([e.as_dict() for e in endpoints], indent=2))
        else:
            self.write_table(endpoints)
        threshold = options["fail_on"]
        if threshold and any(SEVERITY.get(e.severity, 0) >= SEVERITY[threshold] for e in endpoints):
            raise CommandError(f"TOCTOU-prone endpoints found (--fail-on {threshold}).")

    def write_table(self, endpoints: list) -> None:
        rows = [["method", "path", "token revalidated", "rechecked at use", "conditional writes", "verdict", "why"]]
        for e in endpoints:
            rows.append([e.method, e.path, "yes" if e.revalidating else "NO", "yes" if e.object_recheck else "no",
                         "yes" if e.conditional_writes else "no",
                         e.verdict + (f" ({e.severity})" if e.severity != "ok" else ""), "; ".join(e.reasons)])
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
        for row in rows:
            self.stdout.write("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
        prone = sum(e.verdict == "TOCTOU-prone" for e in endpoints)
        self.stdout.write(f"\n{len(endpoints)} endpoint methods, {prone} TOCTOU-prone.")
