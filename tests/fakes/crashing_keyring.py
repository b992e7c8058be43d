"""A file keyring (keyrings.alt's plaintext one, in the test's XDG data dir) that kills its own
process with SIGKILL right after it has stored the Zoom tokens for the Nth time
(ZOOMWATCH_TEST_KILL_AFTER_TOKEN_WRITES=N). It lets a crash test hit the exact moment after a
refresh-token rotation was persisted, without any hook in zoomwatch itself."""

from __future__ import annotations

import os
import signal
from pathlib import Path

from keyrings.alt.file import PlaintextKeyring


class CrashAfterTokenWrite(PlaintextKeyring):
    priority = 1  # type: ignore[assignment]

    def set_password(self, service: str, username: str, password: str) -> None:
        super().set_password(service, username, password)
        limit = os.environ.get("ZOOMWATCH_TEST_KILL_AFTER_TOKEN_WRITES")
        if username != "zoom.user_tokens" or not limit:
            return
        counter = Path(self.file_path).with_suffix(".token-writes")
        count = int(counter.read_text()) + 1 if counter.exists() else 1
        counter.write_text(str(count))
        if count >= int(limit):
            os.kill(os.getpid(), signal.SIGKILL)
