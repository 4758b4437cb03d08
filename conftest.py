# eventlet must patch socket/select/threading before psycopg, kombu or nameko are imported,
# or greenthreads block each other (and pytest can hang on select.poll).
import eventlet

eventlet.monkey_patch()
