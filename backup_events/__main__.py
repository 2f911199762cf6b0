"""`python -m backup_events ...` runs the same command as `backup-events ...`."""

import sys

from backup_events.main import main

sys.exit(main())
