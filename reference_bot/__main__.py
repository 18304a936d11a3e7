import sys

from reference_bot.cli import main

sys.exit(main())
