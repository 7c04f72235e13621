"""The robustness chapter, being moved here from ``mixup_lib.robustness``.

Importing it registers the chapter's presets and settings rules.
"""

import mixup_lib.robustness  # noqa: F401
