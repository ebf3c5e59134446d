"""The project's tests: this folder holds helpers (nbfactory, coursefiles, lab_server) that the
tests in its subfolders import; pytest puts a conftest's folder on sys.path."""
