"""Report mining (AGCL §2.2): disease mentions, negation, uncertainty and severity levels.

Pure core: :func:`mine_reports` (mention level) and :func:`aggregate` (report level); readers for
CSV, OpenI XML and .txt folders; :func:`join_images` and :func:`import_severity` produce the
image-level severity table the curriculum and the S1 seeds read.
"""

from agcl.reports.aggregate import IMAGE_COLUMNS, TABLE_COLUMNS, aggregate, join_images
from agcl.reports.lexicon import Lexicon, load_lexicon
from agcl.reports.mining import MENTION_COLUMNS, ReportMiner, mine_reports, normalize_text
from agcl.reports.readers import ReportSet, read_reports
from agcl.reports.severity_import import import_severity

__all__ = [
    "IMAGE_COLUMNS", "MENTION_COLUMNS", "TABLE_COLUMNS", "Lexicon", "ReportMiner", "ReportSet", "aggregate",
    "import_severity", "join_images", "load_lexicon", "mine_reports", "normalize_text", "read_reports",
]
