"""Reports of a replay run: the self-contained HTML page (:mod:`suggest.report.html`)."""
