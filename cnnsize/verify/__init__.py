"""The real thing: specs built as torch.nn modules and run. Importing this package imports torch
(the `[torch]` extra; without it, a MissingExtra error says how to install it)."""

from ..extras import require

require("torch", "cnnsize.verify (crosscheck, import, build, time, summary of a torch model)")

