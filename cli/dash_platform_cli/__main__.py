"""``python -m dash_platform_cli``."""

from .main import main

main()
