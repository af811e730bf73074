#!/usr/bin/env python
"""The sample API's manage.py: run from anywhere, e.g. `python sample_api/manage.py runserver`."""

import os
import sys
from pathlib import Path

if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sample_api.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
