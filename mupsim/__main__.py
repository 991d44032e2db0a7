from mupsim.cli import main

raise SystemExit(main())
