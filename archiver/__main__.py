"""`python -m archiver`: the same as the `archiver` command."""

from .cli import cli

if __name__ == "__main__":  # not when a worker process imports it
    cli(prog_name="archiver")
