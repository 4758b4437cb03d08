# eventlet must patch socket/select/threading before psycopg, kombu or nameko are imported,
# or greenthreads block each other (and pytest can hang on select.poll).
import os
import warnings

# hypothesis (schemathesis) loads third-party plugins through entry points; trio (pulled in by
# browser-test tooling) registers one and cannot import over eventlet's green socket.
os.environ.setdefault("HYPOTHESIS_NO_PLUGINS", "1")
# psycopg's C build must wait through eventlet's green select, never in C (see shared/cli.py).
os.environ.setdefault("PSYCOPG_WAIT_FUNC", "wait_select")

warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")

import eventlet  # noqa: E402

eventlet.monkey_patch()
