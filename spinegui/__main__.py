from spinegui.cli import main

raise SystemExit(main())
