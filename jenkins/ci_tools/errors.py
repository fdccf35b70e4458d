"""Exit codes shared by the CLIs, so the Jenkinsfile and tests can tell failures apart."""

EXIT_OK = 0
EXIT_FAILED = 1  # a tool or command failed (git, kustomize, validation)
EXIT_BAD_INPUT = 2  # the caller asked for something invalid; nothing was changed


class BadInput(Exception):
    """Invalid request: the message names the file, the object and the broken rule."""


class ToolFailure(Exception):
    """A command we depend on failed; the message carries its output."""


def reports_errors(prog: str):
    """Decorate a CLI `main`: BadInput and ToolFailure become one line on stderr and their exit code."""
    import functools
    import sys

    def wrap(main):
        @functools.wraps(main)
        def run(*args, **kwargs) -> int:
            try:
                return main(*args, **kwargs)
            except BadInput as exc:
                print(f"{prog}: error: {exc}", file=sys.stderr)
                return EXIT_BAD_INPUT
            except ToolFailure as exc:
                print(f"{prog}: failed: {exc}", file=sys.stderr)
                return EXIT_FAILED
        return run
    return wrap
