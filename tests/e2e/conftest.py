"""Session-wide real runs shared by the end-to-end tests (each one is minutes of real processes).

Each area keeps its run fixture in its own module and imports it here, so that one run serves the
tests of every area that needs it.
"""

from tests.e2e.runs_faults import faults_run  # noqa: F401  (harness run: every alert condition injected)
from tests.e2e.runs_week import week_run  # noqa: F401  (harness run: the compressed default week)
