from paybridge.cli import main

raise SystemExit(main())
