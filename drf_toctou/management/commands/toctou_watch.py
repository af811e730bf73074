import logging
import signal
import threading
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from drf_toctou.streams.findings import SEVERITIES


class Command(BaseCommand):
    help = ("Watch a DynamoDB table's stream and report writes the fence should have stopped: written after "
            "revocation, by a non-owner, resurrections, unstamped writes, version regressions. Findings are JSON "
            "lines on logger drf_toctou.streams (printed here when logging is not configured for it).")

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--table", required=True, help="the DynamoDB table (its view's table_name)")
        parser.add_argument("--once", action="store_true", help="judge what the stream holds now, then exit")
        parser.add_argument("--from", dest="start", choices=["trim-horizon", "latest"], default="trim-horizon",
                            help="where shards without a checkpoint start (default: trim-horizon)")
        parser.add_argument("--fail-on", choices=SEVERITIES, help="exit with status 1 if a finding this severe "
                            "or worse was reported")
        parser.add_argument("--limit", type=int, help="stop after judging this many records")

    def handle(self, *args: Any, **options: Any) -> None:
        printing = self._print_findings()
        try:
            self._watch(options)
        finally:
            if printing is not None:
                logging.getLogger("drf_toctou.streams").removeHandler(printing)

    def _watch(self, options: dict[str, Any]) -> None:
        from drf_toctou.streams.reader import LATEST, TRIM_HORIZON, StreamNotReadable
        from drf_toctou.streams.watcher import TRANSIENT, Watcher

        start = LATEST if options["start"] == "latest" else TRIM_HORIZON
        try:
            watcher = Watcher(options["table"], start=start)
        except (StreamNotReadable, *TRANSIENT) as e:
            raise CommandError(f"toctou_watch: {e}", returncode=2) from e
        stop = threading.Event()
        previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in self._stop_signals()}
        ready = f"toctou_watch {options['table']}: watching {watcher.reader.arn} (from {options['start']})."
        try:
            tally = watcher.run(once=options["once"], stop=stop, limit=options["limit"],
                                on_ready=lambda: self.stderr.write(ready))
        except TRANSIENT as e:
            raise CommandError(f"toctou_watch: {type(e).__name__}: {e}", returncode=2) from e
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        self.stderr.write(f"toctou_watch {options['table']}: {tally.summary()}.")
        threshold = options["fail_on"]
        if threshold and tally.at_least(threshold):
            raise CommandError(f"{tally.at_least(threshold)} finding(s) of severity {threshold} or worse.",
                               returncode=1)

    def _stop_signals(self) -> list[int]:
        """SIGTERM and SIGINT end the watcher after the record in hand (main thread only)."""
        if threading.current_thread() is not threading.main_thread():
            return []
        return [signal.SIGTERM, signal.SIGINT]

    def _print_findings(self) -> logging.Handler | None:
        """Print the findings' JSON lines on stdout when logging has no handler for them."""
        logger = logging.getLogger("drf_toctou.streams")
        if logger.handlers or logging.getLogger().handlers:
            return None
        handler = logging.StreamHandler(self.stdout)
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(handler)
        if logger.level == logging.NOTSET:
            logger.setLevel(logging.INFO)
        return handler
