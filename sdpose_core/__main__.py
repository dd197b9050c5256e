import sys

from sdpose_core.cli import main

sys.exit(main())
