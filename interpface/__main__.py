from interpface.cli.main import main

raise SystemExit(main())
