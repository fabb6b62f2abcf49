"""Leaf modules every package may import; they import nothing of the project.

errors: UserError, the base of every error that ends a run with one paragraph and exit code 2.
files: atomic writes (temp file + fsync + rename, honouring the umask) and the restricted unpickler.
"""
