# eventlet must patch socket/select/threading before psycopg, kombu or nameko are imported,
# or greenthreads block each other (and pytest can hang on select.poll).
import warnings

warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")

import eventlet  # noqa: E402

eventlet.monkey_patch()
