"""The version matrix: Django 4.2 and 5.2 LTS × DRF 3.15 and latest × simplejwt
5.5.1 and latest. `nox` runs all of it; `make matrix-oldest` (run by CI) runs
the oldest corner without nox."""

import nox

DJANGO = {"4.2": "Django>=4.2,<4.3", "5.2": "Django>=5.2,<5.3"}
DRF = {"3.15": "djangorestframework>=3.15,<3.16", "latest": "djangorestframework"}
SIMPLEJWT = {"5.5.1": "djangorestframework-simplejwt==5.5.1", "latest": "djangorestframework-simplejwt"}
FAST = ["-m", "not slow", "--ignore=tests/reliability", "--ignore=tests/test_sample_api.py"]


@nox.session(python="3.11")
@nox.parametrize("django", list(DJANGO))
@nox.parametrize("drf", list(DRF))
@nox.parametrize("simplejwt", list(SIMPLEJWT))
def tests(session: nox.Session, django: str, drf: str, simplejwt: str) -> None:
    session.install("-e", ".[redis,dynamodb,test]", DJANGO[django], DRF[drf], SIMPLEJWT[simplejwt])
    session.run("python", "-m", "pytest", "-q", "-p", "no:cacheprovider", *FAST, *session.posargs)
