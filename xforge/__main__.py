import sys

from xforge.cli import main

sys.exit(main())
