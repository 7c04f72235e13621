"""The generalization chapter, being moved here from ``mixup_lib.generalization``.

Importing it registers the chapter's presets and settings rules.
"""

import mixup_lib.generalization  # noqa: F401
